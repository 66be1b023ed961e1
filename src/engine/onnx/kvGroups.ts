/**
 * @file Grouped-query attention in a foreign graph: how many key/value heads a block has and which one
 * each query head reads. Read from ai.onnx Attention's attributes (or its inputs' head axes), or from
 * the way the graph repeats K before Q·Kᵀ:
 *
 * - Unsqueeze → Expand → Reshape (Hugging Face `repeat_kv`, the built-in export, the rewritten
 *   GroupQueryAttention): [B, kvH, T, d] → [B, kvH, g, T, d] → [B, kvH·g, T, d]; query head h reads
 *   KV head ⌊h / g⌋;
 * - Tile by [1, g, 1, 1]: the KV heads one after another g times; query head h reads h mod kvH;
 * - Gather on the head axis with constant indices: query head h reads indices[h].
 *
 * Anything else (or shapes the graph does not state) gives no grouping rather than a guess.
 */
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import { attrInt, attrInts, type NodeProto, valueInfoDims } from './model';

export interface KvGroups {
  kvHeads: number;
  /** For each query head, the KV head it reads. */
  kvHeadOf: number[];
}

/** The block's KV grouping, when it has fewer KV heads than query heads and the graph shows how. */
export function kvGroupsOf(index: GraphIndex, block: FoundBlock): KvGroups | undefined {
  if (block.node.opType === 'Attention' && (block.node.domain ?? '') === '') {
    return standardAttentionGroups(index, block.node);
  }
  return repeatedKeyGroups(index, block.key, block.heads ?? block.expectedHeads);
}

/** Query head h reads KV head ⌊h / (heads / kvHeads)⌋; undefined unless kvHeads properly divides heads. */
export function consecutiveGroups(heads: number | undefined, kvHeads: number | undefined): KvGroups | undefined {
  if (!heads || !kvHeads || kvHeads >= heads || heads % kvHeads !== 0) return undefined;
  const group = heads / kvHeads;
  return { kvHeads, kvHeadOf: Array.from({ length: heads }, (_, head) => Math.floor(head / group)) };
}

/** ai.onnx Attention (opset 23+): q_num_heads / kv_num_heads for 3-D inputs, the head axis of 4-D ones. */
function standardAttentionGroups(index: GraphIndex, node: NodeProto): KvGroups | undefined {
  const fromAttributes = consecutiveGroups(attrInt(node, 'q_num_heads'), attrInt(node, 'kv_num_heads'));
  if (fromAttributes) return fromAttributes;
  const headAxis = (value: string): number | undefined => {
    const info = index.valueInfo(value);
    const dims = info ? valueInfoDims(info) : undefined;
    return dims && dims.length === 4 && typeof dims[1] === 'number' ? dims[1] : undefined;
  };
  return consecutiveGroups(headAxis(node.input?.[0] ?? ''), headAxis(node.input?.[1] ?? ''));
}

/** Ops between the repeated K and the Q·Kᵀ product that keep the head axis where it is. */
const PASS_THROUGH = new Set(['Cast', 'Identity', 'Mul', 'Div', 'Transpose']);

function repeatedKeyGroups(index: GraphIndex, key: string, heads: number | undefined): KvGroups | undefined {
  let value = key;
  for (let depth = 0; depth < 8 && value; depth++) {
    const node = index.producer(value);
    if (!node || (node.domain ?? '') !== '') return undefined;
    const op = node.opType ?? '';
    if (op === 'Reshape') return expandedGroups(index, node, heads);
    if (op === 'Tile') return tiledGroups(index, node, heads);
    if (op === 'Gather') return gatheredGroups(index, node, heads);
    if (!PASS_THROUGH.has(op)) return undefined;
    if (op === 'Transpose') {
      const perm = attrInts(node, 'perm');
      if (!perm || perm[0] !== 0 || perm[1] !== 1) return undefined; // the head axis moved
    }
    value = (node.input ?? []).find((input) => input && !index.isStatic(input)) ?? '';
  }
  return undefined;
}

/** The axes of an Unsqueeze (attribute before opset 13, input from 13). */
function unsqueezeAxes(index: GraphIndex, node: NodeProto): number[] | undefined {
  const fromInput = node.input?.[1] ? index.constant(node.input[1])?.values : undefined;
  return fromInput ? Array.from(fromInput, Number) : attrInts(node, 'axes');
}

/** Reshape(Expand(Unsqueeze(K, [2]), [.., kvH, g, ..]), [B, kvH·g, T, d]). */
function expandedGroups(index: GraphIndex, reshape: NodeProto, heads: number | undefined): KvGroups | undefined {
  const expand = index.producer(reshape.input?.[0] ?? '');
  const unsqueeze = expand?.opType === 'Expand' ? index.producer(expand.input?.[0] ?? '') : undefined;
  if (!expand || unsqueeze?.opType !== 'Unsqueeze') return undefined;
  const axes = unsqueezeAxes(index, unsqueeze);
  if (!axes || axes.length !== 1 || (axes[0] !== 2 && axes[0] !== -3)) return undefined; // a new axis right after the KV heads
  const expandShape = shapeEntries(index, expand.input?.[1] ?? '');
  const target = shapeEntries(index, reshape.input?.[1] ?? '');
  if (!expandShape || expandShape.length !== 5 || (target && target.length !== 4)) return undefined;
  const group = expandShape[2];
  if (typeof group !== 'number' || group <= 1) return undefined;
  const stated = typeof target?.[1] === 'number' && target[1] > 0 ? target[1] : undefined;
  const queryHeads = stated ?? heads;
  const kvHeads = typeof expandShape[1] === 'number' && expandShape[1] > 1 ? expandShape[1] : queryHeads ? queryHeads / group : undefined;
  if (!kvHeads || !Number.isInteger(kvHeads) || (queryHeads !== undefined && kvHeads * group !== queryHeads)) return undefined;
  return consecutiveGroups(kvHeads * group, kvHeads);
}

/** Tile(K, [1, g, 1, 1]): the KV heads repeated as a whole, g times. */
function tiledGroups(index: GraphIndex, tile: NodeProto, heads: number | undefined): KvGroups | undefined {
  const repeats = index.constant(tile.input?.[1] ?? '')?.values;
  if (!repeats || repeats.length !== 4 || !heads) return undefined;
  const [batch, group, rows, width] = Array.from(repeats, Number) as [number, number, number, number];
  if (batch !== 1 || rows !== 1 || width !== 1 || group <= 1 || heads % group !== 0) return undefined;
  const kvHeads = heads / group;
  return { kvHeads, kvHeadOf: Array.from({ length: heads }, (_, head) => head % kvHeads) };
}

/** Gather(K, indices, axis=1) with constant indices: query head h reads indices[h]. */
function gatheredGroups(index: GraphIndex, gather: NodeProto, heads: number | undefined): KvGroups | undefined {
  if ((attrInt(gather, 'axis') ?? 0) !== 1) return undefined;
  const indices = index.constant(gather.input?.[1] ?? '')?.values;
  if (!indices || indices.length < 2 || (heads !== undefined && indices.length !== heads)) return undefined;
  const kvHeadOf = Array.from(indices, Number);
  const kvHeads = Math.max(...kvHeadOf) + 1;
  if (kvHeadOf.some((kv) => kv < 0) || kvHeads >= kvHeadOf.length) return undefined;
  return { kvHeads, kvHeadOf };
}

/**
 * The entries of a shape vector, also where the graph concatenates constants with pieces of a Shape
 * (Slice or Gather of it, an unsqueezed scalar): those pieces count as unknown entries.
 */
function shapeEntries(index: GraphIndex, value: string): (number | null)[] | undefined {
  const known = index.shapeVector(value);
  if (known) return known;
  const node = index.producer(value);
  if (node?.opType !== 'Concat') return undefined;
  const entries: (number | null)[] = [];
  for (const piece of node.input ?? []) {
    const length = pieceLength(index, piece);
    if (length === undefined) return undefined;
    entries.push(...(index.shapeVector(piece) ?? new Array<null>(length).fill(null)));
  }
  return entries;
}

function pieceLength(index: GraphIndex, piece: string): number | undefined {
  const known = index.shapeVector(piece);
  if (known) return known.length;
  const node = index.producer(piece);
  const constantLength = (slot: number): number | undefined => index.constant(node?.input?.[slot] ?? '')?.values.length;
  if (node?.opType === 'Gather') return constantLength(1);
  if (node?.opType === 'Unsqueeze' && index.rank(node.input?.[0] ?? '') === 0) return 1;
  if (node?.opType === 'Slice') {
    const [start, end] = [1, 2].map((slot) => index.constant(node.input?.[slot] ?? '')?.values);
    if (start?.length === 1 && end?.length === 1 && (start[0] as number) >= 0 && (end[0] as number) > (start[0] as number) && (end[0] as number) < 64) {
      return (end[0] as number) - (start[0] as number);
    }
  }
  return undefined;
}

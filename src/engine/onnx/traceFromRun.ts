/**
 * @file Reads a tapped model's extra outputs back into the trace's attention blocks and residual
 * steps: probabilities into [heads, queries, keys] (batch 0), mask operands decoded to allowed /
 * blocked cells, ReduceL2 outputs into per-token norms.
 */
import { halfToFloat } from '../half';
import type { AttentionBlock, ResidualStep } from '../../shared/trace';
import type { HostTensor } from './runtime';
import type { AttentionTap, MaskEncoding, ProbsLayout, ResidualTap, TapPlan } from './tapPlan';

/** Scores at or below this count as blocked in an additive mask (exporters use -1e4 … -inf). */
export const ADDITIVE_BLOCKED_AT = -1e4;

export function floatValues(tensor: HostTensor): Float32Array {
  if (tensor.data instanceof Float32Array) return tensor.data;
  if (tensor.type === 'float16' && tensor.data instanceof Uint16Array) return Float32Array.from(tensor.data, halfToFloat);
  if (tensor.data instanceof BigInt64Array) return Float32Array.from(tensor.data, Number);
  return Float32Array.from(tensor.data as ArrayLike<number>);
}

interface BlockShape {
  heads: number;
  queries: number;
  keys: number;
  /** Index into the tapped tensor of (batch 0, head, query, key). */
  index(head: number, query: number, key: number): number;
  /** The tensor's coordinates of (batch 0, head, query, key), for broadcasting a mask onto it. */
  coordinates(head: number, query: number, key: number): number[];
}

function shapeOf(layout: ProbsLayout, dims: readonly number[], foldedHeads: number | undefined, node: string): BlockShape {
  const expectRank = (rank: number): void => {
    if (dims.length !== rank) throw new Error(`attention output of ${node} has shape [${dims.join(', ')}], expected rank ${rank} for layout ${layout}`);
  };
  switch (layout) {
    case 'BHQK': {
      expectRank(4);
      const [, H, Q, K] = dims;
      return { heads: H, queries: Q, keys: K, index: (h, q, k) => (h * Q + q) * K + k, coordinates: (h, q, k) => [0, h, q, k] };
    }
    case 'BQHK': {
      expectRank(4);
      const [, Q, H, K] = dims;
      return { heads: H, queries: Q, keys: K, index: (h, q, k) => (q * H + h) * K + k, coordinates: (h, q, k) => [0, q, h, k] };
    }
    case '(BH)QK': {
      expectRank(3);
      const [, Q, K] = dims;
      const H = foldedHeads ?? dims[0];
      return { heads: H, queries: Q, keys: K, index: (h, q, k) => (h * Q + q) * K + k, coordinates: (h, q, k) => [h, q, k] };
    }
    case 'BQK': {
      expectRank(3);
      const [, Q, K] = dims;
      return { heads: 1, queries: Q, keys: K, index: (_h, q, k) => q * K + k, coordinates: (_h, q, k) => [0, q, k] };
    }
    case 'QK': {
      expectRank(2);
      const [Q, K] = dims;
      return { heads: 1, queries: Q, keys: K, index: (_h, q, k) => q * K + k, coordinates: (_h, q, k) => [q, k] };
    }
    default: {
      const unreachable: never = layout;
      throw new Error(`unknown layout ${String(unreachable)}`);
    }
  }
}

/** Index into a tensor of `dims` that broadcasts onto `coordinates` (numpy rules, aligned right). */
function broadcastIndex(dims: readonly number[], coordinates: readonly number[]): number {
  let index = 0;
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const coordinate = coordinates[coordinates.length - dims.length + i] ?? 0;
    const dim = dims[i];
    index += (dim === 1 ? 0 : Math.min(coordinate, dim - 1)) * stride;
    stride *= dim;
  }
  return index;
}

function isBlocked(value: number, encoding: MaskEncoding): boolean {
  switch (encoding) {
    case 'additive':
      return value <= ADDITIVE_BLOCKED_AT;
    case 'where-keep-if-true':
      return value === 0;
    case 'where-block-if-true':
      return value !== 0;
    default: {
      const unreachable: never = encoding;
      throw new Error(`unknown mask encoding ${String(unreachable)}`);
    }
  }
}

/** The [queries, keys] allowed cells of head 0, batch 0. */
export function decodeMask(mask: HostTensor, encoding: MaskEncoding, shape: BlockShape): Uint8Array {
  const values = floatValues(mask);
  const cells = new Uint8Array(shape.queries * shape.keys);
  for (let q = 0; q < shape.queries; q++) {
    for (let k = 0; k < shape.keys; k++) {
      const value = values[broadcastIndex(mask.dims, shape.coordinates(0, q, k))];
      cells[q * shape.keys + k] = isBlocked(value, encoding) ? 0 : 1;
    }
  }
  return cells;
}

function readBlock(tap: AttentionTap, outputs: Record<string, HostTensor>): AttentionBlock {
  const tensor = outputs[tap.output];
  if (!tensor) throw new Error(`the run did not return the tapped output ${tap.output}`);
  const shape = shapeOf(tap.layout, tensor.dims, tap.heads, tap.node);
  const values = floatValues(tensor);
  const size = shape.heads * shape.queries * shape.keys;
  let probs: Float32Array;
  if (tap.layout === 'BHQK' || tap.layout === '(BH)QK' || tap.layout === 'BQK' || tap.layout === 'QK') {
    // Batch 0 is already [heads, queries, keys], contiguous at the start: one copy, no index math.
    probs = values.slice(0, size);
  } else {
    probs = new Float32Array(size);
    let offset = 0;
    for (let h = 0; h < shape.heads; h++) {
      for (let q = 0; q < shape.queries; q++) {
        for (let k = 0; k < shape.keys; k++) probs[offset++] = values[shape.index(h, q, k)];
      }
    }
  }
  let mask: Uint8Array | null = null;
  if (tap.mask) {
    const maskTensor = outputs[tap.mask.output];
    if (!maskTensor) throw new Error(`the run did not return the tapped mask ${tap.mask.output}`);
    mask = decodeMask(maskTensor, tap.mask.encoding, shape);
  }
  // The grouping holds only when the run has as many query heads as the graph said.
  const grouped = tap.kvHeads !== undefined && tap.kvHeadOf?.length === shape.heads;
  const window = mask && tap.expectedMaskKind.startsWith('causal') ? slidingWindowOf(mask, shape.queries, shape.keys) : null;
  const source = moduleName(tap.node);
  return {
    layer: tap.layer,
    kind: tap.kind,
    queryStream: tap.queryStream,
    keyStream: tap.keyStream,
    heads: shape.heads,
    ...(grouped ? { kvHeads: tap.kvHeads, kvHeadOf: tap.kvHeadOf?.slice() } : {}),
    queries: shape.queries,
    keys: shape.keys,
    probs,
    maskKind: tap.mask ? tap.expectedMaskKind : 'none',
    mask,
    ...(window !== null ? { slidingWindow: window } : {}),
    ...(source !== null ? { source } : {}),
  };
}

/**
 * The module an attention node belongs to, from the names exporters give nodes: PyTorch's
 * "/model/layers.3/self_attn/Softmax" → "model.layers.3.self_attn"; the built-in export's
 * "Softmax_decoder.layers.0.self_attention.softmax" → "decoder.layers.0.self_attention". Null for
 * a name that says nothing about where it sits ("Softmax_12", "Attention_0").
 */
export function moduleName(nodeName: string): string | null {
  // A joined encoder-decoder's decoder nodes carry "decoder_model::" before their own names.
  const node = nodeName.replace(/^[\w.-]*::/, '');
  if (node.includes('/')) {
    const parts = node.split('/').filter((part) => part.length > 0);
    return parts.length > 1 ? parts.slice(0, -1).join('.') : null;
  }
  const path = node.replace(/^[A-Za-z]+_(?=[A-Za-z])/, '').replace(/\.(softmax|probs|attention_probs)$/i, '');
  return /(^|\.)[A-Za-z_]*\.?\d+\./.test(`${path}.`) && path.includes('.') ? path : null;
}

/**
 * The sliding window a causal mask applies, read from the cells the model really blocked: every
 * query row allows exactly its last W keys (itself included; queries sit at the end of the keys,
 * after any past), and some row has keys before its window. Null for any other pattern (a plain
 * causal mask, padding, a custom mask), so a window is never claimed that the model did not apply.
 */
export function slidingWindowOf(mask: Uint8Array, queries: number, keys: number): number | null {
  const past = keys - queries;
  if (past < 0) return null;
  let window: number | null = null;
  let widestUncut = 0;
  for (let q = 0; q < queries; q++) {
    const last = q + past;
    let first = last;
    while (first > 0 && mask[q * keys + first - 1] === 1) first--;
    for (let k = 0; k < keys; k++) {
      if ((mask[q * keys + k] === 1) !== (k >= first && k <= last)) return null;
    }
    const width = last - first + 1;
    if (first === 0) {
      widestUncut = Math.max(widestUncut, width);
    } else {
      if (window !== null && window !== width) return null;
      window = width;
    }
  }
  // Rows whose window has not filled yet allow all their keys: never more than the window.
  return window !== null && widestUncut <= window ? window : null;
}

function readResidual(tap: ResidualTap, outputs: Record<string, HostTensor>): ResidualStep {
  const tensor = outputs[tap.output];
  if (!tensor) throw new Error(`the run did not return the residual tap ${tap.output}`);
  const values = floatValues(tensor);
  // [B, T] (or [T] without batch): batch 0.
  const tokens = tensor.dims.length >= 2 ? tensor.dims[tensor.dims.length - 1] : values.length;
  return { label: tap.label, stream: tap.stream, layer: tap.layer, stage: tap.stage, norms: values.slice(0, tokens) };
}

export function readTaps(plan: TapPlan, outputs: Record<string, HostTensor>): { blocks: AttentionBlock[]; residual: ResidualStep[] } {
  return {
    blocks: plan.attention.map((tap) => readBlock(tap, outputs)),
    residual: plan.residual.map((tap) => readResidual(tap, outputs)),
  };
}

/** Every output name the taps need, to ask the session for exactly these. */
export function tapOutputNames(plan: TapPlan): string[] {
  return [
    ...plan.attention.flatMap((tap) => (tap.mask ? [tap.output, tap.mask.output] : [tap.output])),
    ...plan.residual.map((tap) => tap.output),
  ];
}

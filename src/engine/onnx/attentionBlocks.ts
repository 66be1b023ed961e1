/**
 * @file Attention blocks: the FoundBlock record every stage fills in, finding Softmax blocks (fed by
 * Q·Kᵀ, multiplied by V), their mask parts, scale check and probabilities layout.
 */
import type { BlockKind, MaskKind, StreamName } from '../../shared/trace';
import { notice, type TraceNotice } from '../../shared/trace';
import { GraphIndex } from './graph';
import { attrInt, attrInts, describeNode, type GraphProto, type NodeProto } from './model';
import { findScorePath, multipliedByValues, type ScorePath } from './scorePath';
import { type StreamWalk, walkToStream } from './streamWalk';
import type { MaskEncoding, ProbsLayout } from './tapPlan';

/** One part of a block's mask: the operand that was added to the scores, or a Where condition. */
export interface MaskPart {
  value: string;
  encoding: MaskEncoding;
}

/** An attention block as found in the graph. */
export interface FoundBlock {
  /** The Softmax, or the fused Attention node. */
  node: NodeProto;
  /** The probabilities value (Softmax output or fused output 3). */
  probs: string;
  /** The Q·Kᵀ operands (for fused: the Q and K inputs). */
  query: string;
  key: string;
  maskParts: MaskPart[];
  /** Causal masking the fused node applies internally (no tensor to tap). */
  internalCausal: boolean;
  layout: ProbsLayout;
  heads?: number;
  /** Heads read from the graph's shapes where they show them, for estimating a run's size up front. */
  expectedHeads?: number;
  maskKind: MaskKind;
  /** Role analysis. */
  kind: BlockKind;
  queryStream: StreamName;
  keyStream: StreamName;
  layer: number;
  /** Q and K came from recognisable projections (false for raw q/k/v inputs). */
  projected: boolean;
  queryTerminals: Set<string>;
  keyTerminals: Set<string>;
}

/** What finding a block reads from the graph; newBlock fills in the rest. */
type BlockFindings = Pick<FoundBlock, 'node' | 'probs' | 'query' | 'key' | 'maskParts' | 'internalCausal' | 'layout' | 'heads' | 'expectedHeads'>;

/** A found block with its Q/K walks; mask kind, role and layer are placeholders until assignRoles. */
export function newBlock(found: BlockFindings, queryWalk: StreamWalk, keyWalk: StreamWalk): FoundBlock {
  return {
    ...found,
    maskKind: 'none',
    kind: 'self',
    queryStream: 'encoder',
    keyStream: 'encoder',
    layer: 0,
    projected: queryWalk.projected || keyWalk.projected,
    queryTerminals: queryWalk.terminals,
    keyTerminals: keyWalk.terminals,
  };
}

export function findSoftmaxBlocks(index: GraphIndex, opset: number, notes: TraceNotice[]): FoundBlock[] {
  const blocks: FoundBlock[] = [];
  let skipped = 0;
  for (const node of index.order) {
    if (node.opType !== 'Softmax' || (node.domain ?? '') !== '' || !node.input?.[0] || !node.output?.[0]) {
      continue;
    }
    const path = findScorePath(index, node.input[0]);
    if (!path || !multipliedByValues(index, node.output[0])) {
      skipped++;
      continue;
    }
    blocks.push(describeSoftmaxBlock(index, node, path, opset, notes));
  }
  if (skipped > 0 && blocks.length > 0) {
    notes.push(notice('softmax-skipped', `${skipped} other Softmax node(s) are not attention (no query·key input or no ·V product) and were left alone.`));
  }
  return blocks;
}

function describeSoftmaxBlock(index: GraphIndex, softmax: NodeProto, path: ScorePath, opset: number, notes: TraceNotice[]): FoundBlock {
  const [left, right] = (path.product.input ?? []) as [string, string];
  const maskParts: MaskPart[] = [];
  let scaledOnScores = false;
  for (const { node, slot } of path.steps) {
    const op = node.opType ?? '';
    const other = (node.input ?? []).find((input, at) => at !== slot && input) ?? '';
    if (op === 'Add' && other && index.scalarConstant(other) === undefined) {
      maskParts.push({ value: other, encoding: 'additive' });
    } else if (op === 'Where') {
      maskParts.push({ value: node.input?.[0] ?? '', encoding: slot === 1 ? 'where-keep-if-true' : 'where-block-if-true' });
    } else if ((op === 'Div' || op === 'Mul') && index.scalarConstant(other) !== undefined) {
      scaledOnScores = true;
    } else if (op === 'Mul' && other) {
      notes.push(notice('multiplicative-mask', `${describeNode(softmax)}: the scores are multiplied by a computed tensor before the softmax (a multiplicative mask?); it is not decoded as a mask.`));
    }
  }
  const queryWalk = walkToStream(index, left);
  const keyWalk = walkToStream(index, right);
  if (!scaledOnScores && !queryWalk.scaled && !keyWalk.scaled) {
    notes.push(notice('no-scale', `${describeNode(softmax)}: no 1/√d scale was found on the scores or on Q/K; the logits reach the softmax unscaled.`));
  }

  // Layout from the rank of the scores and any Transpose between the product and the softmax.
  const rank = index.rank(softmax.input?.[0] ?? '') ?? index.rank(path.product.output?.[0] ?? '');
  let layout: ProbsLayout;
  let heads: number | undefined;
  let keyAxis: number;
  if (rank === 2) {
    layout = 'QK';
    keyAxis = 1;
  } else if (rank === 3) {
    heads = foldedHeads(index, left);
    layout = heads !== undefined && heads > 1 ? '(BH)QK' : 'BQK';
    if (layout === 'BQK') {
      heads = undefined;
    }
    keyAxis = 2;
  } else {
    if (rank !== 4) {
      notes.push(notice('rank-unknown', `${describeNode(softmax)}: the rank of its scores could not be read; read as [batch, heads, queries, keys].`));
    }
    const order = axisOrderAfter(path, ['B', 'H', 'Q', 'K']);
    layout = order === 'BQHK' ? 'BQHK' : 'BHQK';
    if (order !== 'BHQK' && order !== 'BQHK') {
      notes.push(notice('scores-transposed', `${describeNode(softmax)}: its scores are transposed to ${order} before the softmax; read as BHQK.`));
    }
    keyAxis = 3;
  }
  // Softmax axis: opset < 13 default 1 (with the 2-D coercion), from 13 default -1.
  const declared = attrInt(softmax, 'axis') ?? (opset >= 13 ? -1 : 1);
  const effectiveRank = rank ?? 4;
  const axis = declared < 0 ? declared + effectiveRank : declared;
  if (axis !== keyAxis) {
    notes.push(notice('softmax-axis', `${describeNode(softmax)} normalises over axis ${axis}${opset < 13 ? ' (and the axes after it)' : ''}, not over the key axis ${keyAxis}: its rows do not sum to 1. Tapped as it is.`,));
  }
  const expectedHeads = heads ?? (layout === 'BHQK' || layout === 'BQHK' ? foldedHeads(index, left) : layout === 'QK' || layout === 'BQK' ? 1 : undefined);
  return newBlock({ node: softmax, probs: softmax.output?.[0] ?? '', query: left, key: right, maskParts, internalCausal: false, layout, heads, expectedHeads }, queryWalk, keyWalk);
}

/** Where each of B, H, Q, K ends up after the Transposes on the score path (product → softmax). */
function axisOrderAfter(path: ScorePath, start: string[]): string {
  let order = start.slice();
  for (let i = path.steps.length - 1; i >= 0; i--) {
    const { node } = path.steps[i] as { node: NodeProto };
    if (node.opType === 'Transpose') {
      const perm = attrInts(node, 'perm');
      if (perm && perm.length === order.length) {
        order = perm.map((axis) => order[axis] as string);
      }
    }
    if (node.opType === 'Reshape') {
      return order.join(''); // a reshape on the path: trust the order we have
    }
  }
  return order.join('');
}

/**
 * Heads folded into the batch axis ([B·H, T, d]): read H from the rank-4 Reshape ([B, T, H, d]) the
 * query went through on its way from the projection. Undefined when no such Reshape is found.
 */
function foldedHeads(index: GraphIndex, query: string): number | undefined {
  let value = query;
  for (let depth = 0; depth < 12; depth++) {
    const node = index.producer(value);
    if (!node) {
      return undefined;
    }
    if (node.opType === 'Reshape') {
      const shape = index.shapeVector(node.input?.[1] ?? '');
      if (shape && shape.length === 4 && typeof shape[2] === 'number' && shape[2] > 0) {
        return shape[2];
      }
    }
    if (!['Reshape', 'Transpose', 'Cast', 'Identity', 'Div', 'Mul', 'Squeeze', 'Unsqueeze', 'Add'].includes(node.opType ?? '')) {
      return undefined;
    }
    const next = (node.input ?? []).find((input) => input && !index.isStatic(input));
    if (!next) {
      return undefined;
    }
    value = next;
  }
  return undefined;
}

/** Notes the nodes holding subgraphs, whose attention is not searched. */
export function noteSubgraphs(graph: GraphProto, notes: TraceNotice[]): void {
  for (const node of graph.node ?? []) {
    if ((node.attribute ?? []).some((attribute) => attribute.g || (attribute.graphs ?? []).length > 0)) {
      notes.push(notice('subgraph', `${describeNode(node)} holds a subgraph; attention inside subgraphs (If/Loop/Scan/BeamSearch) is not tapped.`));
    }
  }
}

/** Kernels that compute attention themselves (their own domain, or ai.onnx for Attention). */
const ATTENTION_KERNELS = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'DecoderMaskedMultiHeadAttention', 'DecoderMaskedSelfAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'LongformerAttention', 'SparseAttention', 'QAttention', 'QOrderedAttention', 'PagedAttention', 'DecoderAttention']);

function subgraphsOf(node: NodeProto): GraphProto[] {
  return (node.attribute ?? []).flatMap((attribute) => [...(attribute.g ? [attribute.g] : []), ...(attribute.graphs ?? [])]);
}

/** A Softmax whose scores come, through elementwise and layout ops, from a com.microsoft FusedMatMul (Q·Kᵀ). */
function fedByFusedProduct(index: GraphIndex, softmax: NodeProto): boolean {
  let value = softmax.input?.[0] ?? '';
  for (let depth = 0; depth < 8 && value; depth++) {
    const node = index.producer(value);
    if (!node) return false;
    if (node.opType === 'FusedMatMul') return true;
    if (!['Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast', 'Identity', 'Reshape', 'Transpose'].includes(node.opType ?? '')) return false;
    value = (node.input ?? []).find((input, slot) => input && !index.isStatic(input) && !(node.opType === 'Where' && slot === 0)) ?? '';
  }
  return false;
}

/** Whether `graph` or a subgraph in it computes attention: a fused attention kernel, or a Softmax fed by Q·Kᵀ. */
function holdsAttention(graph: GraphProto, depth = 0): boolean {
  const nodes = graph.node ?? [];
  if (nodes.some((node) => ATTENTION_KERNELS.has(node.opType ?? '') && ['', 'ai.onnx', 'com.microsoft'].includes(node.domain ?? ''))) return true;
  const index = new GraphIndex(graph);
  const attentionSoftmax = (node: NodeProto): boolean =>
    node.opType === 'Softmax' && Boolean(node.input?.[0]) && ((findScorePath(index, node.input?.[0] ?? '') !== undefined && multipliedByValues(index, node.output?.[0] ?? '')) || fedByFusedProduct(index, node));
  return nodes.some(attentionSoftmax) || (depth < 8 && nodes.some((node) => subgraphsOf(node).some((subgraph) => holdsAttention(subgraph, depth + 1))));
}

/**
 * The main-graph node whose subgraphs compute attention (com.microsoft BeamSearch, GreedySearch,
 * WhisperBeamSearch, ai.onnx If, Loop, Scan...), or undefined. Attention there is not traced.
 */
export function nodeHidingAttention(graph: GraphProto): NodeProto | undefined {
  return (graph.node ?? []).find((node) => subgraphsOf(node).some((subgraph) => holdsAttention(subgraph)));
}

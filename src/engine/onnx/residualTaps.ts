/**
 * @file The residual stream: finds the Adds (and SkipLayerNormalizations) joining the stream with a
 * sub-layer, labels them by stream, layer and stage, and taps per-token L2 norms of each.
 */
import type { ResidualStage, StreamName } from '../../shared/trace';
import { notice, type TraceNotice } from '../../shared/trace';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { describeNode, ElemType, makeAttrInt, makeAttrInts, makeNode, type NodeProto } from './model';
import { findScorePath } from './scorePath';
import type { ResidualTap } from './tapPlan';

export interface ResidualStep {
  /** The value to take norms of. */
  value: string;
  /** For SkipLayerNormalization without a sum output: the node to give output 3. */
  skipNode?: NodeProto;
  stream: StreamName;
  layer: number | null;
  stage: ResidualStage;
  label: string;
  position: number;
}

/** Ops that make a sub-layer (the branch of a residual Add must contain one). */
const HEAVY = new Set(['MatMul', 'Gemm', 'Einsum', 'Conv', 'Attention', 'MatMulNBits', 'MatMulInteger', 'QLinearMatMul', 'FusedMatMul']);

const SKIP_NORMS = new Set(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);

/**
 * Residual adds: an Add (or SkipLayerNormalization) whose one operand (the stream) flows, through at
 * least one MatMul-like op, into the other (the sub-layer output). The stage is the attention
 * block inside that sub-layer (self or cross), or feed-forward when there is none. Steps are
 * chained by dependence: a step's predecessor is the latest step its stream operand depends on;
 * a step without one starts a stream, whose operand is tapped as "embedding + positions", or as
 * "embedding" when it is a bare token-embedding lookup (rotary models add no positions).
 */
export function findResidualSteps(index: GraphIndex, blocks: FoundBlock[], notes: TraceNotice[]): ResidualStep[] {
  const scoreNodes = new Set<NodeProto>();
  for (const block of blocks) {
    for (const part of block.maskParts) {
      const producer = index.producer(part.value);
      if (producer) {
        scoreNodes.add(producer);
      }
    }
    const path = block.node.opType === 'Softmax' ? findScorePath(index, block.node.input?.[0] ?? '') : undefined;
    path?.steps.forEach((step) => scoreNodes.add(step.node));
  }
  const blockByNode = new Map<NodeProto, FoundBlock>(blocks.map((block) => [block.node, block]));

  interface Candidate {
    node: NodeProto;
    stream: string;
    value: string;
    skipNode?: NodeProto;
    block: FoundBlock | undefined;
  }
  const candidates: Candidate[] = [];
  for (const node of index.order) {
    const op = node.opType ?? '';
    const isAdd = op === 'Add' && (node.domain ?? '') === '';
    const isSkip = SKIP_NORMS.has(op) && node.domain === 'com.microsoft';
    if ((!isAdd && !isSkip) || scoreNodes.has(node)) {
      continue;
    }
    const [a, b] = [node.input?.[0] ?? '', node.input?.[1] ?? ''];
    if (!a || !b || index.isStatic(a) || index.isStatic(b)) {
      continue;
    }
    let stream: string;
    let branch: string;
    if (index.dependsOn(b, a)) {
      [stream, branch] = [a, b];
    } else if (index.dependsOn(a, b)) {
      [stream, branch] = [b, a];
    } else {
      continue;
    }
    const between = index.nodesBetween(stream, branch);
    if (!between.some((inner) => HEAVY.has(inner.opType ?? ''))) {
      continue;
    }
    const inner = between.map((innerNode) => blockByNode.get(innerNode)).filter((found): found is FoundBlock => found !== undefined);
    const block = inner[inner.length - 1];
    const value = isSkip ? node.output?.[3] ?? '' : node.output?.[0] ?? '';
    candidates.push({ node, stream, value, skipNode: isSkip && !value ? node : undefined, block });
  }

  // Chain the steps: predecessor = latest earlier step the stream operand depends on.
  const steps: ResidualStep[] = [];
  const outputs: { value: string; node: NodeProto; step: ResidualStep }[] = [];
  const starts = new Set<StreamName>();
  const defaultStream: StreamName = blocks.some((block) => block.queryStream === 'encoder') ? 'encoder' : 'decoder';
  for (const candidate of candidates) {
    let predecessor: ResidualStep | undefined;
    for (let i = outputs.length - 1; i >= 0; i--) {
      const earlier = outputs[i] as { value: string; node: NodeProto; step: ResidualStep };
      const earlierValue = earlier.value || earlier.node.output?.[0] || '';
      if (index.dependsOn(candidate.stream, earlierValue)) {
        predecessor = earlier.step;
        break;
      }
    }
    const block = candidate.block;
    const stream: StreamName = block ? block.queryStream : predecessor?.stream ?? defaultStream;
    const stage: ResidualStage = block ? (block.kind === 'cross' ? 'cross-attention' : 'self-attention') : 'feed-forward';
    const layer = block ? block.layer : predecessor?.layer ?? 0;
    if (!predecessor && !starts.has(stream)) {
      starts.add(stream);
      steps.push({
        value: candidate.stream,
        stream,
        layer: null,
        stage: 'embedding',
        label: `${stream} ${embeddingLabel(index, candidate.stream)}`,
        position: index.valuePosition(candidate.stream),
      });
    }
    const step: ResidualStep = {
      value: candidate.value,
      skipNode: candidate.skipNode,
      stream,
      layer,
      stage,
      label: `${stream} L${layer} + ${stage}`,
      position: index.position(candidate.node),
    };
    steps.push(step);
    outputs.push({ value: candidate.value, node: candidate.node, step });
  }

  // Say which blocks have no residual add after them.
  for (const block of blocks) {
    const stage: ResidualStage = block.kind === 'cross' ? 'cross-attention' : 'self-attention';
    if (!steps.some((step) => step.stream === block.queryStream && step.layer === block.layer && step.stage === stage)) {
      notes.push(notice('residual-missing', `No residual Add found after the ${block.kind} attention block ${block.queryStream} L${block.layer} (${describeNode(block.node)}).`));
    }
  }
  const order: Record<StreamName, number> = { encoder: 0, decoder: 1 };
  return steps.sort((a, b) => order[a.stream] - order[b.stream] || a.position - b.position);
}

export function tapResidual(editor: GraphEditor, index: GraphIndex, step: ResidualStep, stepIndex: number, opset: number): ResidualTap {
  let value = step.value;
  if (!value && step.skipNode) {
    // SkipLayerNormalization's optional output 3 is input + skip (+ bias): the stream after the add.
    value = editor.fresh('residual_sum');
    const outputs = [...(step.skipNode.output ?? [])];
    while (outputs.length < 4) {
      outputs.push('');
    }
    outputs[3] = value;
    // Replace, never mutate: untouched nodes are shared with the caller's model.
    const copy = makeNode(step.skipNode.opType ?? '', [...(step.skipNode.input ?? [])], outputs, step.skipNode.name ?? '', step.skipNode.attribute ?? [], step.skipNode.domain ?? '');
    editor.replace(step.skipNode, [copy]);
  }
  // Float32 first: an fp16 norm of a wide vector can overflow.
  const asFloat = editor.append('Cast', [value], [makeAttrInt('to', ElemType.FLOAT)]);
  const output = editor.fresh(`residual_${stepIndex}_${step.label.replace(/[^A-Za-z0-9]+/g, '_')}`);
  const rank = index.rank(step.value);
  const reduced = rank === 2 ? editor.fresh('norms') : output;
  if (opset >= 18) {
    editor.append('ReduceL2', [asFloat, editor.int64([-1])], [makeAttrInt('keepdims', 0)], reduced);
  } else {
    editor.append('ReduceL2', [asFloat], [makeAttrInts('axes', [-1]), makeAttrInt('keepdims', 0)], reduced);
  }
  if (rank === 2) {
    // [B·T, d] streams (flattened exports) give [B·T]; make it [1, B·T], which is [B, T] for batch 1.
    editor.appendNode(editor.unsqueeze(reduced, [0], output).node);
  }
  editor.addOutput(output, ElemType.FLOAT);
  return { output, label: step.label, stream: step.stream, layer: step.layer, stage: step.stage };
}

/** "embedding" when the stream starts at a bare token-embedding lookup (Gather), else "embedding + positions". */
function embeddingLabel(index: GraphIndex, value: string): string {
  let node = index.producer(value);
  // Scaling, casts and dropout-free identities sit between the Add and the first sub-layer in some exports.
  while (node && ['Mul', 'Cast', 'Identity', 'Div'].includes(node.opType ?? '')) node = index.producer(node.input?.[0] ?? '');
  return node?.opType === 'Gather' ? 'embedding' : 'embedding + positions';
}

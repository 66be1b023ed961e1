/**
 * @file Head gates: after each tapped Softmax, the graph multiplies the probabilities by a per-head
 * factor that is a graph input, so an ablation run is the same session fed other values (no new
 * graph per head, no second session):
 *
 *   gated = probs · scale + ReduceMean_Q(probs) · mean
 *
 * `scale` and `mean` are inputs shaped to broadcast over the layout's head axis ([1, H, 1, 1] for
 * [B, H, Q, K]). A plain run feeds scale 1 and mean 0 (shape all ones: the numbers are unchanged).
 * Zero ablation feeds scale 0 for the head: its α·V, and so its share of the output before W_O, is
 * zero. Mean ablation feeds scale 0 and mean 1: mean_q(α)·V = mean_q(α·V), since V does not depend
 * on the query, so the head's output becomes its mean over the input's query positions, what the
 * reference model computes. The tap reads the ungated probabilities; the consumers (α·V) read the
 * gated ones.
 */
import { onnx } from 'onnx-proto';
import type { AblationMode } from '../../shared/trace';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { ElemType, graphOf, makeAttrInt, makeAttrInts, makeNode, makeValueInfo, type NodeProto } from './model';
import type { HostTensor } from './runtime';
import type { HeadGateInputs, ProbsLayout, TapPlan } from './tapPlan';

const GATE_BASE = 'gate_';
/** Every gate input's name starts so (GraphEditor's prefix and the gate's base). */
const GATE_NAME = /^attention_lens\/gate_/;

/**
 * The value that leaves a gate input's head open (1 for a scale, 0 for a mean), or null for an
 * input that is no gate: for callers that run a tapped model with their own feeds.
 */
export function openGateValue(name: string): number | null {
  if (!GATE_NAME.test(name)) return null;
  return name.startsWith('attention_lens/gate_mean_') ? 0 : 1;
}

/** Per layout: its rank, the axis of the heads (null: one head) and the axis of the queries. */
const AXES: Readonly<Record<ProbsLayout, { rank: number; head: number | null; query: number }>> = {
  BHQK: { rank: 4, head: 1, query: 2 },
  BQHK: { rank: 4, head: 2, query: 1 },
  // [B·H, Q, K] with batch 1: the heads are the first axis.
  '(BH)QK': { rank: 3, head: 0, query: 1 },
  BQK: { rank: 3, head: null, query: 1 },
  QK: { rank: 2, head: null, query: 0 },
};

/**
 * Inserts the gate after `block`'s probabilities and points their consumers in the graph at it.
 * Null where there is nothing to gate: a fused ai.onnx Attention hands its probabilities out as a
 * side output, and its own output does not read them.
 */
export function gateBlock(editor: GraphEditor, index: GraphIndex, block: FoundBlock, blockIndex: number): HeadGateInputs | null {
  if (block.node.opType !== 'Softmax' || block.node.output?.[0] !== block.probs) return null;
  const graph = graphOf(editor.model);
  const axes = AXES[block.layout];
  // Fresh names (attention_lens/gate_N): a model's own inputs can never be taken for gates.
  const scale = editor.fresh(`${GATE_BASE}${blockIndex}`);
  const mean = editor.fresh(`${GATE_BASE}mean_${blockIndex}`);
  graph.input?.push(makeValueInfo(scale, ElemType.FLOAT), makeValueInfo(mean, ElemType.FLOAT));
  const nodes: NodeProto[] = [];
  const add = (opType: string, inputs: string[], attributes: ReturnType<typeof makeAttrInt>[] = []): string => {
    const output = editor.fresh(`gate_${opType.toLowerCase()}`);
    nodes.push(makeNode(opType, inputs, [output], editor.fresh(`gate_${opType}_node`), attributes));
    return output;
  };
  // fp16 (bf16, fp64) probabilities: the float gates are cast to their type.
  const type = index.elemType(block.probs) ?? ElemType.FLOAT;
  const typed = (input: string): string => (type === ElemType.FLOAT ? input : add('Cast', [input], [makeAttrInt('to', type)]));
  const averaged = editor.opset >= 18
    ? add('ReduceMean', [block.probs, editor.int64([axes.query])], [makeAttrInt('keepdims', 1)])
    : add('ReduceMean', [block.probs], [makeAttrInts('axes', [axes.query]), makeAttrInt('keepdims', 1)]);
  const gated = add('Add', [add('Mul', [block.probs, typed(scale)]), add('Mul', [averaged, typed(mean)])]);
  // Every reader of the probabilities but the taps (appended later, by the editor) reads the gated
  // ones. The edited copy shares its nodes with the caller's model: readers are replaced by copies.
  const nodesList = graph.node as NodeProto[];
  nodesList.forEach((node, at) => {
    if (node.input?.includes(block.probs)) nodesList[at] = new onnx.NodeProto({ ...node, input: node.input.map((input) => (input === block.probs ? gated : input)) });
  });
  nodesList.splice(nodesList.indexOf(block.node) + 1, 0, ...nodes);
  return { scale, mean, rank: axes.rank, headAxis: axes.head };
}

/** One gate input's tensor: `values` along the head axis (or a single value), ones elsewhere. */
function gateTensor(gate: HeadGateInputs, values: readonly number[]): HostTensor {
  const dims = Array.from({ length: gate.rank }, (_, axis) => (axis === gate.headAxis ? values.length : 1));
  return { type: 'float32', data: Float32Array.from(values), dims };
}

/** The heads to ablate per block index, and how. */
export interface GateSettings {
  heads: ReadonlyMap<number, ReadonlySet<number>>;
  /** Heads per block, for the gates' lengths. */
  headsOf: (blockIndex: number) => number;
  mode: AblationMode;
}

/**
 * The gates' feeds: without settings a plain run (scale 1, mean 0, one value each, whatever the
 * heads); with them, the ablated blocks' heads switched off.
 */
export function gateFeeds(plan: TapPlan, settings?: GateSettings): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  plan.attention.forEach((tap, blockIndex) => {
    if (!tap.gate) return;
    const ablated = settings?.heads.get(blockIndex);
    if (!settings || !ablated) {
      feeds[tap.gate.scale] = gateTensor(tap.gate, [1]);
      feeds[tap.gate.mean] = gateTensor(tap.gate, [0]);
      return;
    }
    const heads = tap.gate.headAxis === null ? 1 : settings.headsOf(blockIndex);
    const off = Array.from({ length: heads }, (_, head) => ablated.has(head));
    feeds[tap.gate.scale] = gateTensor(tap.gate, off.map((isOff) => (isOff ? 0 : 1)));
    feeds[tap.gate.mean] = gateTensor(tap.gate, off.map((isOff) => (isOff && settings.mode === 'mean' ? 1 : 0)));
  });
  return feeds;
}

/**
 * @file The value path of a tapped attention block, for value-weighted attention
 * (analysis/valueWeighted.ts): the V that the probabilities multiply, and the output projection
 * W_O that reads the heads once they are merged. V becomes one more graph output (float32); W_O is
 * an initializer, read here once. Where either is not where the common exports put it, the block
 * gets a reason instead, and the trace says it (notice value-weighted-unavailable).
 *
 * The pattern (PyTorch's and the built-in export's, and the fused kernels' rewrites):
 *   probs [B,H,Q,K] · V [B,H,K,d_k] → Transpose(0,2,1,3) → Reshape [B,Q,H·d_k] → MatMul(·, W_O [H·d_k, d])
 * with Cast/Identity allowed between, the heads folded into the batch axis ([B·H, Q, d_k], then a
 * Reshape to rank 4 before the Transpose), and W_O as a Gemm (transB: [out, in]) after a Reshape to
 * rank 2, as GPT-2's Conv1D exports write it. Row h·d_k + c of W_O then reads head h's feature c.
 */
import type { OutputProjectionLayout } from '../analysis/valueWeighted';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { onnx } from 'onnx-proto';
import { attrInt, attrInts, ElemType, makeAttrInt, type NodeProto } from './model';
import type { ProjectionSource, ValueTap } from './tapPlan';
import { tensorDims, tensorValues } from './tensorValues';

/** Ops between α·V and the projection that move or relabel values without mixing heads. */
const PASS_THROUGH = new Set(['Cast', 'Identity']);

/** The one node reading `value`, or undefined when none or several do (a fork is no plain path). */
function soleConsumer(index: GraphIndex, value: string): NodeProto | undefined {
  const uses = index.consumers(value);
  return uses.length === 1 ? uses[0].node : undefined;
}

/**
 * The output projection: a MatMul or Gemm whose second operand is a rank-2 constant. Its numbers are
 * read when a run first asks for value-weighted attention, not when the graph is tapped: W_O of
 * every layer, widened, would be held for runs that never use it (a 0.5 B model's: 230 MB).
 */
function projectionOf(index: GraphIndex, node: NodeProto): ProjectionSource | string {
  const weight = node.input?.[1] ?? '';
  const tensor = index.constantTensor(weight);
  const dims = tensor ? tensorDims(tensor) : index.constant(weight)?.dims;
  if (!dims) return `its output projection's weight ${weight} is not a constant of the graph`;
  if (dims.length !== 2) return `its output projection ${weight} has shape [${dims.join(', ')}], not [in, out]`;
  if (tensor?.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return `its output projection ${weight} is kept in external data, which the graph analysis does not read`;
  const [rows, cols] = dims as [number, number];
  let layout: Omit<OutputProjectionLayout, 'data'> = { inFeatures: rows, outFeatures: cols, inStride: cols, outStride: 1 };
  if (node.opType === 'Gemm') {
    if ((attrInt(node, 'transA') ?? 0) !== 0) return 'its output projection is a Gemm with transA';
    // transB: W is [out, in], row-major; else [in, out] as MatMul has it.
    if ((attrInt(node, 'transB') ?? 0) === 1) layout = { inFeatures: cols, outFeatures: rows, inStride: 1, outStride: cols };
  }
  let data: Float32Array | null = null;
  return {
    name: weight,
    layout,
    read: () => {
      const values = tensor ? tensorValues(tensor) : index.constant(weight)?.values;
      data ??= values && values.length === rows * cols ? Float32Array.from(values) : new Float32Array(0);
      return data.length > 0 ? { ...layout, data } : null;
    },
  };
}

/**
 * Follows α·V to the output projection; a reason when the path is not the plain one. `folded`: the
 * probabilities are [B·H, Q, K] (heads in the batch axis), so a Reshape to rank 4 comes first.
 */
function findProjection(index: GraphIndex, context: string, folded: boolean): ProjectionSource | string {
  let value = context;
  let merged = false;
  for (let depth = 0; depth < 8; depth++) {
    const node = soleConsumer(index, value);
    if (!node) return `the heads' output ${value} is read by ${index.consumers(value).length} nodes, not by one output projection`;
    const op = node.opType ?? '';
    if ((op === 'MatMul' || op === 'Gemm') && node.input?.[0] === value) {
      if (!merged) return `no Transpose merges the heads before the projection ${node.name ?? op}`;
      return projectionOf(index, node);
    }
    if (op === 'Transpose') {
      const perm = attrInts(node, 'perm');
      if (merged || perm?.join(',') !== '0,2,1,3') return `the heads are transposed with perm [${perm?.join(', ') ?? '?'}], not merged as [B, Q, H, d_k]`;
      merged = true;
    } else if (op === 'Reshape') {
      if (!merged && !folded) return 'the heads are reshaped before they are transposed to [B, Q, H, d_k]';
    } else if (!PASS_THROUGH.has(op)) {
      return `${op} ${node.name ?? ''} comes between the heads' output and the output projection`;
    }
    folded = false;
    value = node.output?.[0] ?? '';
  }
  return 'no output projection within 8 nodes of the heads\' output';
}

/** The V a Softmax block's probabilities multiply, and its W_O; a reason where the path is not found. */
export function findValuePath(index: GraphIndex, block: FoundBlock): { value: string; projection: ProjectionSource } | { unavailable: string } {
  if (block.node.opType !== 'Softmax') return { unavailable: `${block.node.opType ?? 'its node'} gives no separate value tensor` };
  if (block.layout !== 'BHQK' && block.layout !== '(BH)QK') return { unavailable: `its probabilities are laid out ${block.layout}, not [B, H, Q, K]` };
  let probs = block.probs;
  for (let depth = 0; depth < 4; depth++) {
    const node = soleConsumer(index, probs);
    if (!node) break;
    if (node.opType === 'MatMul' && node.input?.[0] === probs) {
      const value = node.input?.[1] ?? '';
      const projection = findProjection(index, node.output?.[0] ?? '', block.layout === '(BH)QK');
      return typeof projection === 'string' ? { unavailable: projection } : { value, projection };
    }
    if (!PASS_THROUGH.has(node.opType ?? '')) break;
    probs = node.output?.[0] ?? '';
  }
  return { unavailable: 'no MatMul multiplies its probabilities by V' };
}

/** Adds V as a float32 graph output when the path is found. */
export function tapValues(editor: GraphEditor, index: GraphIndex, block: FoundBlock): ValueTap {
  const found = findValuePath(index, block);
  if ('unavailable' in found) return found;
  const output = editor.fresh(`values_${block.queryStream}_L${block.layer}_${block.kind}`);
  editor.append('Cast', [found.value], [makeAttrInt('to', ElemType.FLOAT)], output);
  editor.addOutput(output, ElemType.FLOAT);
  return { output, projection: found.projection };
}

/**
 * @file com.microsoft FusedMatMul rewritten into Transpose/MatMul/Mul, everywhere in the graph, so
 * that an export whose Q·Kᵀ is FusedMatMul(transB = 1, alpha = 1/√d) (what onnxruntime's optimizer
 * writes for Llama-style models) shows the ordinary Q·Kᵀ → scale → Softmax chain.
 *
 * Y = alpha · op(A) · op(B), with numpy-style batch broadcasting as in MatMul, where for a rank-r
 * operand (onnxruntime contrib op docs):
 *   transBatch moves the first axis behind the batch axes: [d0, d1, …, d(r-2), d(r-1)] →
 *     [d1, …, d(r-2), d0, d(r-1)] (the "1st dimension and batch dimensions" transposition);
 *   trans then swaps the last two axes.
 */
import { checkKnownAttributes, type FusedRewriter, refuseFused } from './fusedKernels';
import { ValueFacts } from './fusedMultiHeadCore';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { attrFloat, attrInt, ElemType, makeAttrInts, makeNode, type NodeProto } from './model';

/** The permutation that puts an operand of rank `rank` in the order the product reads it; null for none. */
export function operandPermutation(rank: number, transBatch: boolean, trans: boolean): number[] | null {
  let order = Array.from({ length: rank }, (_, axis) => axis);
  if (transBatch && rank > 2) order = [...order.slice(1, rank - 1), 0, rank - 1];
  if (trans) order = [...order.slice(0, rank - 2), order[rank - 1] as number, order[rank - 2] as number];
  return order.every((axis, at) => axis === at) ? null : order;
}

/** True when `value` reaches a Softmax within a few elementwise/layout steps (a Q·Kᵀ product). */
function feedsSoftmax(index: GraphIndex, value: string, depth = 0): boolean {
  return index.consumers(value).some(({ node }) => node.opType === 'Softmax' || (depth < 6 && SCORE_STEPS.has(node.opType ?? '') && (node.output ?? []).some((output) => output && feedsSoftmax(index, output, depth + 1))));
}
const SCORE_STEPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast', 'Identity', 'Reshape', 'Transpose', 'Tanh', 'Clip', 'Max', 'Min']);

/** Thrown inside the replacement when a FusedMatMul that is no Q·Kᵀ cannot be rewritten: it stays. */
class KeepAsIs extends Error {}

function fusedMatMulReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  try {
    return rewriteFusedMatMul(editor, index, node);
  } catch (error) {
    if (!(error instanceof KeepAsIs)) throw error;
    // A copy: the driver renames it, and the input model stays as it was.
    return [makeNode(node.opType ?? '', [...(node.input ?? [])], [...(node.output ?? [])], node.name ?? '', [...(node.attribute ?? [])], node.domain ?? '')];
  }
}

function rewriteFusedMatMul(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  checkKnownAttributes(node, ['alpha', 'transA', 'transB', 'transBatchA', 'transBatchB']);
  const facts = new ValueFacts(editor, index);
  const nodes: NodeProto[] = [];
  // Only a product that feeds a Softmax hides attention: any other is left as it is when it cannot be rewritten.
  const cannot = (why: string): never => {
    if (feedsSoftmax(index, node.output?.[0] ?? '')) refuseFused(node, why);
    throw new KeepAsIs(why);
  };
  const operand = (slot: 0 | 1, trans: string, transBatch: string): string => {
    const input = node.input?.[slot] ?? '';
    const flags = [(attrInt(node, transBatch) ?? 0) !== 0, (attrInt(node, trans) ?? 0) !== 0] as const;
    if (!flags[0] && !flags[1]) return input;
    const rank = facts.rank(input);
    if (rank === undefined || rank < 2) {
      cannot(rank === undefined ? `the rank of its input ${slot === 0 ? 'A' : 'B'} cannot be read, so its ${trans}/${transBatch} cannot be written as a Transpose` : `its input ${slot === 0 ? 'A' : 'B'} has rank ${rank}, which cannot be transposed`);
    }
    const perm = operandPermutation(rank as number, ...flags);
    if (!perm) return input;
    const step = editor.node('Transpose', [input], [makeAttrInts('perm', perm)]);
    nodes.push(step.node);
    return step.output;
  };
  const a = operand(0, 'transA', 'transBatchA');
  const b = operand(1, 'transB', 'transBatchB');
  const alpha = attrFloat(node, 'alpha') ?? 1;
  const output = node.output?.[0] ?? editor.fresh('fused_matmul');
  if (alpha === 1) {
    nodes.push(editor.node('MatMul', [a, b], [], output).node);
    return nodes;
  }
  const type = facts.elemType(node.input?.[0] ?? '') ?? facts.elemType(node.input?.[1] ?? '');
  if (type !== ElemType.FLOAT && type !== ElemType.FLOAT16 && type !== ElemType.DOUBLE && type !== ElemType.BFLOAT16) {
    cannot( type === undefined ? 'the element type of its inputs cannot be read, so its alpha cannot be written as a Mul' : `its element type (${type}) is not a float type`);
  }
  const product = editor.node('MatMul', [a, b]);
  nodes.push(product.node, editor.node('Mul', [product.output, editor.constant(type as number, [], [alpha])], [], output).node);
  return nodes;
}

export const fusedMatMulRewriter: FusedRewriter = {
  domain: 'com.microsoft',
  opType: 'FusedMatMul',
  minOpset: 1,
  replacement: fusedMatMulReplacement,
};

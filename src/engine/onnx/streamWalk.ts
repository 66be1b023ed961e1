/**
 * @file Traces a Q or K operand up to the stream tensors it was projected from; the roles analysis
 * compares these terminals to tell self from cross attention.
 */
import type { GraphIndex } from './graph';

/** Ops between a Q/K operand and its projection: layout, splits, caches, scaling, rotary. */
const HEAD_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Gather', 'Concat', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Expand', 'Tile']);
/** Ops between a projection and the stream tensor it reads (Tensordot-style reshapes). */
const STREAM_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

export interface StreamWalk {
  /** Where the walk stopped: stream tensors (after projections), graph inputs, past caches. */
  terminals: Set<string>;
  projected: boolean;
  scaled: boolean;
}

/**
 * From a Q or K operand up to the tensors it was projected from. Before the projection the walk
 * follows layout ops, caches (Concat with past), scaling and rotary arithmetic through every
 * computed input; at a MatMul/Gemm by a weight it crosses to the activation and then only follows
 * reshapes, stopping at the first real op: that value is the stream the operand reads.
 */
export function walkToStream(index: GraphIndex, start: string): StreamWalk {
  const terminals = new Set<string>();
  let projected = false;
  let scaled = false;
  const seen = new Set<string>();
  const stack: { value: string; afterProjection: boolean }[] = [{ value: start, afterProjection: false }];
  while (stack.length > 0 && seen.size < 200) {
    const { value, afterProjection } = stack.pop() as { value: string; afterProjection: boolean };
    if (!value || seen.has(value) || index.isStatic(value)) {
      continue;
    }
    seen.add(value);
    const node = index.producer(value);
    if (!node || (node.domain ?? '') !== '') {
      terminals.add(value);
      continue;
    }
    const op = node.opType ?? '';
    const inputs = node.input ?? [];
    if (afterProjection) {
      if (STREAM_SIDE.has(op) && inputs[0]) {
        stack.push({ value: inputs[0], afterProjection });
      } else {
        terminals.add(value);
      }
      continue;
    }
    if ((op === 'MatMul' || op === 'Gemm') && inputs.length >= 2 && (index.isStatic(inputs[1] ?? '') || index.isStatic(inputs[0] ?? ''))) {
      projected = true;
      const activation = index.isStatic(inputs[1] ?? '') ? inputs[0] : inputs[1];
      stack.push({ value: activation ?? '', afterProjection: true });
      continue;
    }
    if (!HEAD_SIDE.has(op)) {
      terminals.add(value);
      continue;
    }
    if ((op === 'Div' || op === 'Mul') && inputs.some((input) => index.scalarConstant(input) !== undefined)) {
      scaled = true;
    }
    // Gather with computed indices is a lookup (rotary tables by position), not a slice of Q/K.
    const follow = op === 'Gather' && !index.isStatic(inputs[1] ?? '') ? [] : op === 'Gather' || op === 'Slice' || op === 'Split' || op === 'Expand' || op === 'Tile' || op === 'Reshape' ? [inputs[0] ?? ''] : inputs;
    if (follow.length === 0) {
      terminals.add(value);
    }
    for (const input of follow) {
      stack.push({ value: input, afterProjection: false });
    }
  }
  return { terminals, projected, scaled };
}

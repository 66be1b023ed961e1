/**
 * @file The two edges of an attention Softmax: the path from its input back to the Q·Kᵀ product
 * (through scale, mask, reshape and cast ops) and the ·V product its output feeds.
 */
import type { GraphIndex } from './graph';
import type { NodeProto } from './model';

/** Ops allowed between Q·Kᵀ and the Softmax, with the input slots that carry the scores. */
const SCORE_PATH: Record<string, (index: GraphIndex, node: NodeProto) => number[]> = {
  Cast: () => [0],
  Identity: () => [0],
  Reshape: () => [0],
  Transpose: () => [0],
  Squeeze: () => [0],
  Unsqueeze: () => [0],
  Clip: () => [0],
  Tanh: () => [0], // softcapping: c·tanh(s/c)
  Where: () => [1, 2],
  Div: () => [0],
  Mul: nonStaticInputs,
  Add: nonStaticInputs,
  Sub: () => [0],
  Max: nonStaticInputs,
  Min: nonStaticInputs,
};

function nonStaticInputs(index: GraphIndex, node: NodeProto): number[] {
  return (node.input ?? []).map((input, slot) => (input && !index.isStatic(input) ? slot : -1)).filter((slot) => slot >= 0);
}

/** A MatMul/Einsum of two computed tensors (not a projection by weights). */
function isActivationProduct(index: GraphIndex, node: NodeProto | undefined): boolean {
  if (!node || (node.domain ?? '') !== '' || (node.opType !== 'MatMul' && node.opType !== 'Einsum')) {
    return false;
  }
  const inputs = (node.input ?? []).filter(Boolean);
  return inputs.length === 2 && inputs.every((input) => !index.isStatic(input));
}

export interface ScorePath {
  product: NodeProto;
  /** From the Softmax input down to the product: each node and the slot the path enters it by. */
  steps: { node: NodeProto; slot: number }[];
}

/** Breadth-first from the Softmax input to the nearest Q·Kᵀ product through SCORE_PATH ops. */
export function findScorePath(index: GraphIndex, softmaxInput: string): ScorePath | undefined {
  interface Visit {
    value: string;
    parent: Visit | null;
    via: { node: NodeProto; slot: number } | null;
  }
  const queue: Visit[] = [{ value: softmaxInput, parent: null, via: null }];
  const seen = new Set<string>([softmaxInput]);
  while (queue.length > 0) {
    const visit = queue.shift() as Visit;
    const node = index.producer(visit.value);
    if (!node) {
      continue;
    }
    if (isActivationProduct(index, node)) {
      const steps: { node: NodeProto; slot: number }[] = [];
      for (let at: Visit | null = visit; at && at.via; at = at.parent) {
        steps.push(at.via);
      }
      return { product: node, steps: steps.reverse() };
    }
    const slots = (node.domain ?? '') === '' ? SCORE_PATH[node.opType ?? '']?.(index, node) : undefined;
    if (!slots || seen.size > 64) {
      continue;
    }
    for (const slot of slots) {
      const input = node.input?.[slot];
      if (input && !seen.has(input)) {
        seen.add(input);
        queue.push({ value: input, parent: visit, via: { node, slot } });
      }
    }
  }
  return undefined;
}

/** Ops allowed between the probabilities and the ·V product. */
const PROBS_TO_V = new Set(['Cast', 'Identity', 'Dropout', 'Reshape', 'Transpose', 'Where', 'Mul', 'Squeeze', 'Unsqueeze']);

/** True when the value reaches, through PROBS_TO_V ops, a product where it is the left operand. */
export function multipliedByValues(index: GraphIndex, probs: string): boolean {
  const stack = [{ value: probs, depth: 0 }];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: string; depth: number };
    if (seen.has(value) || depth > 6) {
      continue;
    }
    seen.add(value);
    for (const use of index.consumers(value)) {
      const op = use.node.opType ?? '';
      if ((op === 'MatMul' || op === 'Einsum') && use.inputIndex === 0 && isActivationProduct(index, use.node)) {
        return true;
      }
      if (PROBS_TO_V.has(op) && use.node.output?.[0]) {
        stack.push({ value: use.node.output[0], depth: depth + 1 });
      }
    }
  }
  return false;
}

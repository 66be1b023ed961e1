/**
 * @file Traces a Q or K operand up to the stream tensors it was projected from; the roles analysis
 * compares these terminals to tell self from cross attention.
 */
import type { GraphIndex } from './graph';
import type { NodeProto } from './model';

/** Ops between a Q/K operand and its projection: layout, splits, caches, scaling, rotary. */
const HEAD_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Gather', 'Concat', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Expand', 'Tile']);
/** Ops between a projection and the stream tensor it reads (Tensordot-style reshapes, activation quantization). */
const STREAM_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten', 'DynamicQuantizeLinear', 'QuantizeLinear', 'DequantizeLinear']);
/** Quantize/dequantize pairs that may sit on Q or K themselves (QDQ models): followed through their data input. */
const QUANTIZATION = new Set(['DynamicQuantizeLinear', 'QuantizeLinear', 'DequantizeLinear']);

/**
 * Products by a weight besides MatMul/Gemm: quantized ones. `activation` is the stream's slot and
 * `weight` the slot that must be static (int8 or packed int4 weights, what quantizers write).
 */
const WEIGHT_PRODUCTS: Record<string, { activation: number; weight: number }> = {
  MatMulInteger: { activation: 0, weight: 1 }, // quantize_dynamic: DynamicQuantizeLinear → MatMulInteger → Cast → Mul by scales
  QLinearMatMul: { activation: 0, weight: 3 },
  'com.microsoft:MatMulNBits': { activation: 0, weight: 1 }, // int4/int8 block-quantized (onnxruntime-genai)
  'com.microsoft:MatMulBnb4': { activation: 0, weight: 1 },
  'com.microsoft:MatMulIntegerToFloat': { activation: 0, weight: 1 },
  'com.microsoft:DynamicQuantizeMatMul': { activation: 0, weight: 1 },
};

/**
 * The activation a product by a static weight reads, or undefined when the node is not one: MatMul
 * and Gemm by a weight on either side, and the quantized products of WEIGHT_PRODUCTS.
 */
function projectedActivation(index: GraphIndex, node: NodeProto): string | undefined {
  const op = node.opType ?? '';
  const domain = node.domain ?? '';
  const inputs = node.input ?? [];
  if (domain === '' && (op === 'MatMul' || op === 'Gemm') && inputs.length >= 2) {
    if (index.isStatic(inputs[1] ?? '')) return inputs[0];
    if (index.isStatic(inputs[0] ?? '')) return inputs[1];
    return undefined;
  }
  const slots = WEIGHT_PRODUCTS[domain === '' ? op : `${domain}:${op}`];
  return slots && index.isStatic(inputs[slots.weight] ?? '') ? inputs[slots.activation] : undefined;
}

/**
 * True for a dynamic quantization's scale or zero point (DynamicQuantizeLinear's second and third
 * outputs, and products or casts of them with constants): a dequantizing Mul multiplies by it, which
 * is neither a 1/√d scale nor another stream.
 */
function isQuantizationParameter(index: GraphIndex, value: string, depth = 0): boolean {
  const node = index.producer(value);
  if (!node || depth > 4 || (node.domain ?? '') !== '') return false;
  if (node.opType === 'DynamicQuantizeLinear') return (node.output ?? []).indexOf(value) > 0;
  if (!['Mul', 'Cast', 'Reshape', 'Unsqueeze'].includes(node.opType ?? '')) return false;
  const computed = (node.input ?? []).filter((input) => input && !index.isStatic(input));
  return computed.length > 0 && computed.every((input) => isQuantizationParameter(index, input, depth + 1));
}

export interface StreamWalk {
  /** Where the walk stopped: stream tensors (after projections), graph inputs, past caches. */
  terminals: Set<string>;
  projected: boolean;
  scaled: boolean;
}

/**
 * From a Q or K operand up to the tensors it was projected from. Before the projection the walk
 * follows layout ops, caches (Concat with past), scaling and rotary arithmetic through every
 * computed input; at a MatMul/Gemm by a weight (or a quantized product: MatMulInteger, MatMulNBits,
 * WEIGHT_PRODUCTS) it crosses to the activation and then only follows reshapes and activation
 * quantization, stopping at the first real op: that value is the stream the operand reads.
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
    const activation = node && !afterProjection ? projectedActivation(index, node) : undefined;
    if (activation !== undefined) {
      projected = true;
      stack.push({ value: activation, afterProjection: true });
      continue;
    }
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
    if (QUANTIZATION.has(op) && inputs[0]) {
      stack.push({ value: inputs[0], afterProjection });
      continue;
    }
    if (!HEAD_SIDE.has(op)) {
      terminals.add(value);
      continue;
    }
    // A dequantizing Mul (quantize_dynamic's MatMulInteger → Cast → Mul by x_scale · w_scale) scales nothing.
    const dequantizing = op === 'Mul' && inputs.some((input) => input && !index.isStatic(input) && isQuantizationParameter(index, input));
    if ((op === 'Div' || op === 'Mul') && !dequantizing && inputs.some((input) => index.scalarConstant(input) !== undefined)) {
      scaled = true;
    }
    // Gather with computed indices is a lookup (rotary tables by position), not a slice of Q/K.
    const follow = op === 'Gather' && !index.isStatic(inputs[1] ?? '') ? [] : op === 'Gather' || op === 'Slice' || op === 'Split' || op === 'Expand' || op === 'Tile' || op === 'Reshape' ? [inputs[0] ?? ''] : dequantizing ? inputs.filter((input) => !isQuantizationParameter(index, input)) : inputs;
    if (follow.length === 0) {
      terminals.add(value);
    }
    for (const input of follow) {
      stack.push({ value: input, afterProjection: false });
    }
  }
  return { terminals, projected, scaled };
}

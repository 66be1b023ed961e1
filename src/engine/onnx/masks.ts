/**
 * @file Mask analysis: what kind of mask a block applies (causal, padding, both, custom), read from
 * where its parts come from.
 */
import type { MaskKind } from '../../shared/trace';
import { notice, type TraceNotice } from '../../shared/trace';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';
import { describeNode } from './model';

/** Comparison ops that build masks. */
const COMPARE = new Set(['Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']);

/**
 * What a block's mask is, from where its parts come from: 'causal' when a part is a triangular
 * constant, a Trilu, or a comparison of two position ranges (Range), with no input data involved;
 * 'padding' when a part reads a graph input's contents (attention_mask, input_mask, mask_index, or
 * pad ids); both → 'causal+padding'; a part that is neither → 'custom'.
 */
export function classifyMask(index: GraphIndex, block: FoundBlock, notes: TraceNotice[]): MaskKind {
  let causal = block.internalCausal;
  let padding = false;
  let custom = false;
  for (const part of block.maskParts) {
    const reached = index.upstream(part.value, { dataOnly: false });
    const readsInput = index.inputsRead(part.value).size > 0;
    const rangeCausal = [...reached.nodes].some((node) => {
      if (node.opType === 'Trilu') {
        return true;
      }
      if (!COMPARE.has(node.opType ?? '')) {
        return false;
      }
      const operands = (node.input ?? []).filter(Boolean);
      return (
        operands.length === 2 &&
        operands.every((operand) => !index.isStatic(operand) && index.inputsRead(operand).size === 0) &&
        operands.every((operand) => [...index.upstream(operand, { dataOnly: false }).nodes].some((up) => up.opType === 'Range'))
      );
    });
    const offsets = [...reached.constants].map((constant) => triangularOffset(index, constant)).filter((offset): offset is number => offset !== undefined);
    for (const offset of offsets.filter((found) => found !== 0)) {
      notes.push(notice('causal-shifted', `${describeNode(block.node)}: its causal mask lets each query see ${offset} later token(s) (the diagonal is shifted by ${offset}).`));
    }
    const partCausal = rangeCausal || offsets.length > 0;
    causal = causal || partCausal;
    padding = padding || readsInput;
    custom = custom || (!partCausal && !readsInput);
  }
  if (causal && padding) {
    return 'causal+padding';
  }
  if (causal) {
    return 'causal';
  }
  if (padding) {
    return 'padding';
  }
  return custom ? 'custom' : 'none';
}

/**
 * For a constant whose last two axes hold one value where key ≤ query + offset and another elsewhere
 * (a causal mask, possibly shifted), the offset; undefined for any other constant.
 */
function triangularOffset(index: GraphIndex, value: string): number | undefined {
  const constant = index.constant(value);
  if (!constant || constant.dims.length < 2) {
    return undefined;
  }
  const rows = constant.dims[constant.dims.length - 2] as number;
  const cols = constant.dims[constant.dims.length - 1] as number;
  if (rows < 2 || cols < 2 || rows * cols > 1 << 24) {
    return undefined;
  }
  const values = constant.values;
  const allowed = values[0] as number; // (0, 0) is allowed by any causal mask with offset ≥ 0
  // The offset is where the first row changes value.
  let offset = 0;
  while (offset + 1 < cols && values[offset + 1] === allowed) {
    offset++;
  }
  if (offset + 1 >= cols) {
    return undefined; // first row all one value: not triangular
  }
  const blocked = values[offset + 1] as number;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if ((values[r * cols + c] as number) !== (c <= r + offset ? allowed : blocked)) {
        return undefined;
      }
    }
  }
  return offset;
}

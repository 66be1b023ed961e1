/**
 * @file The pieces the grouped-query rewrites (fusedGroupQuery.ts) build from primitive operators:
 * a small emitter over GraphEditor, rotary embedding in both layouts, placing new keys into the
 * present buffer per batch row, and repeating each KV head for the query heads that read it (the
 * Unsqueeze → Expand → Reshape form Hugging Face's repeat_kv exports, which kvGroups.ts recognises).
 */
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { type AttributeProto, attrInt, ElemType, makeAttrInt, makeAttrInts, type NodeProto, valueInfoDims } from './model';

/** The lowest float32: a score set to it gets exactly 0 after the softmax, as a kernel that skips the cell. */
export const LOWEST_FLOAT = -3.4028234663852886e38;

/** Appends nodes for a replacement sequence and names constants; every method returns the output name. */
export class Emitter {
  readonly nodes: NodeProto[] = [];

  constructor(readonly editor: GraphEditor) {}

  op(opType: string, inputs: string[], attributes: AttributeProto[] = [], output?: string): string {
    const step = this.editor.node(opType, inputs, attributes, output);
    this.nodes.push(step.node);
    return step.output;
  }

  ints(values: number[]): string {
    return this.editor.int64(values);
  }

  scalarInt(value: number): string {
    return this.editor.int64([value], true);
  }

  scalar(value: number, type: number = ElemType.FLOAT): string {
    return this.editor.constant(type, [], [value]);
  }

  unsqueeze(value: string, axes: number[]): string {
    const step = this.editor.unsqueeze(value, axes);
    this.nodes.push(step.node);
    return step.output;
  }

  cast(value: string, to: number): string {
    return this.op('Cast', [value], [makeAttrInt('to', to)]);
  }

  /** Dimension `axis` of `value` as a 1-D [1] int64 tensor. */
  dim(value: string, axis: number): string {
    return this.op('Gather', [this.op('Shape', [value]), this.ints([axis])], [makeAttrInt('axis', 0)]);
  }

  /** A [1] int64 tensor as a scalar (Range wants scalars). */
  toScalar(value: string): string {
    return this.op('Reshape', [value, this.ints([])]);
  }

  slice(value: string, start: string, end: string, axis: number): string {
    return this.op('Slice', [value, start, end, this.ints([axis])]);
  }

  transpose(value: string, perm: number[]): string {
    return this.op('Transpose', [value], [makeAttrInts('perm', perm)]);
  }

  /** Positions 0 … length-1 (length a [1] int64) as a 1-D int64 tensor. */
  range(start: string, end: string): string {
    return this.op('Range', [this.toScalar(start), this.toScalar(end), this.scalarInt(1)]);
  }
}

/** The last dimension of a value where the graph states it: its value info, or the weight of the MatMul (+ bias) that made it. */
export function staticLastDim(index: GraphIndex, value: string): number | undefined {
  const info = index.valueInfo(value);
  const dims = info ? valueInfoDims(info) : undefined;
  const last = dims?.[dims.length - 1];
  if (typeof last === 'number' && last > 0) return last;
  const producer = index.producer(value);
  // Quantized projections: MatMulNBits names its output width; quantize_dynamic's MatMulInteger is
  // followed by a Cast and a Mul by the scales.
  if (producer?.opType === 'MatMulNBits' || producer?.opType === 'MatMulBnb4') {
    const width = attrInt(producer, 'N');
    if (width && width > 1) return width;
  }
  if (producer?.opType === 'MatMulInteger') {
    const weights = index.constant(producer.input?.[1] ?? '');
    const weightLast = weights?.dims[weights.dims.length - 1];
    if (typeof weightLast === 'number' && weightLast > 1) return weightLast;
  }
  if (producer?.opType === 'Cast' || producer?.opType === 'DequantizeLinear') return staticLastDim(index, producer.input?.[0] ?? '');
  if (producer?.opType === 'Mul') {
    for (const input of producer.input ?? []) {
      if (!index.constant(input)) {
        const inner = staticLastDim(index, input);
        if (inner) return inner;
      }
    }
  }
  if (producer?.opType === 'MatMul' || producer?.opType === 'Add') {
    for (const input of producer.input ?? []) {
      const constant = index.constant(input);
      const weightLast = constant?.dims[constant.dims.length - 1];
      if (constant && constant.dims.length >= 1 && typeof weightLast === 'number' && weightLast > 1) return weightLast;
      if (producer.opType === 'Add' && !constant) {
        const inner = staticLastDim(index, input);
        if (inner) return inner;
      }
    }
  }
  return undefined;
}

/**
 * Rotary embedding of x [B, heads, S, H] (float32) at the rows cos/sin [B, 1, S, half] (float32), on
 * its first 2·half dimensions; the rest pass through. interleaved: pairs (2i, 2i+1); otherwise
 * (i, i + half). Each output is x_a·cos − x_b·sin and x_b·cos + x_a·sin.
 */
export function rotary(e: Emitter, x: string, cos: string, sin: string, half: string, interleaved: boolean): string {
  const rotaryDim = e.op('Mul', [half, e.ints([2])]);
  const rest = e.slice(x, rotaryDim, e.ints([2 ** 62]), 3);
  const turn = (a: string, b: string): [string, string] => [
    e.op('Sub', [e.op('Mul', [a, cos]), e.op('Mul', [b, sin])]),
    e.op('Add', [e.op('Mul', [b, cos]), e.op('Mul', [a, sin])]),
  ];
  if (!interleaved) {
    const [first, second] = turn(e.slice(x, e.ints([0]), half, 3), e.slice(x, half, rotaryDim, 3));
    return e.op('Concat', [first, second, rest], [makeAttrInt('axis', 3)]);
  }
  const pairs = e.op('Reshape', [e.slice(x, e.ints([0]), rotaryDim, 3), e.ints([0, 0, 0, -1, 2])]); // [B, h, S, half, 2]
  const even = e.op('Gather', [pairs, e.scalarInt(0)], [makeAttrInt('axis', 4)]);
  const odd = e.op('Gather', [pairs, e.scalarInt(1)], [makeAttrInt('axis', 4)]);
  const [evenOut, oddOut] = turn(even, odd);
  const stacked = e.op('Concat', [e.unsqueeze(evenOut, [4]), e.unsqueeze(oddOut, [4])], [makeAttrInt('axis', 4)]);
  return e.op('Concat', [e.op('Reshape', [stacked, e.ints([0, 0, 0, -1])]), rest], [makeAttrInt('axis', 3)]);
}

/**
 * The per-row source index of every present-buffer position j < presentLength, for the buffer
 * Concat(past [P], new [S], one zero row) along the sequence axis: j < past_b reads past j, the next S
 * read the new rows, the rest the zero row (a kernel that zero-fills a buffer it does not share).
 * Returns [B, Tp] int64.
 */
export function presentIndex(e: Emitter, pastLengths: string, pastBuffer: string, newLength: string, positions: string): string {
  const row = e.unsqueeze(positions, [0]); // [1, Tp]
  const past = e.unsqueeze(pastLengths, [1]); // [B, 1]
  const relative = e.op('Sub', [row, past]);
  const fromNew = e.op('Where', [e.op('Less', [relative, newLength]), e.op('Add', [pastBuffer, relative]), e.op('Add', [pastBuffer, newLength])]);
  return e.op('Where', [e.op('Less', [row, past]), row, fromNew]);
}

/** The present buffer [B, kvH, Tp, H] of `past` (or none) and `fresh` [B, kvH, S, H], rows placed by `index` [B, Tp]. */
export function placePresent(e: Emitter, past: string, fresh: string, index: string, kvHeads: number, type: number, output?: string): string {
  const zeroShape = e.op('Concat', [e.dim(fresh, 0), e.ints([kvHeads, 1]), e.dim(fresh, 3)], [makeAttrInt('axis', 0)]);
  const zeroRow = e.op('Expand', [e.scalar(0, type), zeroShape]);
  const source = e.op('Concat', past ? [past, fresh, zeroRow] : [fresh, zeroRow], [makeAttrInt('axis', 2)]);
  const expandTo = e.op('Concat', [e.ints([1, kvHeads, 1]), e.dim(fresh, 3)], [makeAttrInt('axis', 0)]);
  const gatherIndex = e.op('Expand', [e.unsqueeze(index, [1, 3]), expandTo]);
  return e.op('GatherElements', [source, gatherIndex], [makeAttrInt('axis', 2)], output);
}

/** [B, kvH, T, H] → [B, kvH·group, T, H], each KV head repeated `group` times in a row (query head h reads KV head ⌊h / group⌋). */
export function repeatKv(e: Emitter, x: string, heads: number, group: number): string {
  if (group === 1) return x;
  const expanded = e.op('Expand', [e.unsqueeze(x, [2]), e.ints([1, 1, group, 1, 1])]); // [B, kvH, group, T, H]
  const shape = e.op('Concat', [e.dim(x, 0), e.ints([heads]), e.dim(x, 2), e.dim(x, 3)], [makeAttrInt('axis', 0)]);
  return e.op('Reshape', [expanded, shape]);
}

/** ReduceLogSumExp over the last axis, keeping it, in the form the opset wants. */
export function logSumExpLast(e: Emitter, x: string): string {
  return e.editor.opset >= 18
    ? e.op('ReduceLogSumExp', [x, e.ints([-1])], [makeAttrInt('keepdims', 1)])
    : e.op('ReduceLogSumExp', [x], [makeAttrInts('axes', [-1]), makeAttrInt('keepdims', 1)]);
}

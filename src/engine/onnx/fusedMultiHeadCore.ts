/**
 * @file The attention core shared by the rewrites of onnxruntime's multi-head kernels
 * (fusedMultiHead.ts): Q, K and V in heads layout → scale·Q·Kᵀ (+ attention bias) (+ additive mask)
 * → Softmax → ·V → [B, S, N·H_v], in primitive operators, plus the pieces those kernels build their
 * inputs and masks from. Dimension letters as in onnxruntime: B batch, N heads, S queries, L new
 * keys, P past keys, T = P + L keys in all, H head size, D = N·H.
 *
 * The masks follow onnxruntime's CPU kernels (contrib_ops/cpu/bert, attention_cpu_base.h and
 * attention_helper.h): a blocked cell gets `mask_filter_value` once per reason it is blocked (key
 * padding, then causal), added to the scaled scores after the attention bias.
 */
import type { GraphEditor } from './graphEditor';
import { GraphIndex } from './graph';
import { attrInt, ElemType, graphOf, makeAttrInt, makeAttrInts, type AttributeProto, type NodeProto } from './model';
import { tensorDims } from './tensorValues';

/** Largest int64, an open end for Slice. */
const TO_END = Number.MAX_SAFE_INTEGER;

/** Appends nodes to a replacement sequence and hands out their outputs. */
export class Emitter {
  readonly nodes: NodeProto[] = [];

  constructor(
    readonly editor: GraphEditor,
    /** FLOAT or FLOAT16: the kernel's T. */
    readonly floatType: number,
  ) {}

  op(opType: string, inputs: string[], attributes: AttributeProto[] = [], output?: string): string {
    const step = this.editor.node(opType, inputs, attributes, output);
    this.nodes.push(step.node);
    return step.output;
  }

  unsqueeze(input: string, axes: number[]): string {
    const step = this.editor.unsqueeze(input, axes);
    this.nodes.push(step.node);
    return step.output;
  }

  /** A scalar of the kernel's float type. */
  scalar(value: number): string {
    return this.editor.constant(this.floatType, [], [value]);
  }

  int64(values: number[], scalar = false): string {
    return this.editor.int64(values, scalar);
  }

  /** Dimension `axis` of `value` as a 1-D int64 tensor of one element. */
  dim(value: string, axis: number): string {
    return this.op('Gather', [this.op('Shape', [value]), this.int64([axis])], [makeAttrInt('axis', 0)]);
  }

  /** Dimension `axis` of `value` as an int64 scalar. */
  dimScalar(value: string, axis: number): string {
    return this.op('Gather', [this.op('Shape', [value]), this.int64([axis], true)], [makeAttrInt('axis', 0)]);
  }

  /** `data[start:end]` along `axis` (start/end: 1-D int64 tensors of one element). */
  slice(data: string, start: string, end: string, axis: number): string {
    return this.op('Slice', [data, start, end, this.int64([axis])]);
  }

  /** `data[start:]` along `axis`. */
  sliceFrom(data: string, start: string, axis: number): string {
    return this.slice(data, start, this.int64([TO_END]), axis);
  }

  /** [B, S, N·H] → [B, N, S, H]. */
  toHeads(value: string, heads: number): string {
    const split = this.op('Reshape', [value, this.int64([0, 0, heads, -1])]);
    return this.op('Transpose', [split], [makeAttrInts('perm', [0, 2, 1, 3])]);
  }

  /** Gathers slot `slot` of axis 3 of a packed [B, L, N, k, H] tensor: [B, L, N, H]. */
  packedSlot(value: string, slot: number): string {
    return this.op('Gather', [value, this.int64([slot], true)], [makeAttrInt('axis', 3)]);
  }
}

/** Where one node's rank and type come from when the driver's index predates earlier rewrites. */
export class ValueFacts {
  private fresh: GraphIndex | undefined;

  constructor(
    private readonly editor: GraphEditor,
    private readonly index: GraphIndex,
  ) {}

  private current(): GraphIndex {
    this.fresh ??= new GraphIndex(graphOf(this.editor.model));
    return this.fresh;
  }

  rank(value: string): number | undefined {
    return this.index.rank(value) ?? this.current().rank(value);
  }

  elemType(value: string): number | undefined {
    return this.index.elemType(value) ?? this.current().elemType(value);
  }

  /** Declared dims (numbers where fixed), for graph inputs, value infos and constants. */
  dims(value: string): (number | null)[] | undefined {
    const tensor = this.index.constantTensor(value) ?? this.current().constantTensor(value);
    if (tensor) return tensorDims(tensor);
    const info = this.index.valueInfo(value) ?? this.current().valueInfo(value);
    const dims = info?.type?.tensorType?.shape?.dim;
    if (!info?.type?.tensorType?.shape) return undefined;
    return (dims ?? []).map((dim) => {
      const fixed = Number(dim.dimValue ?? 0);
      return fixed > 0 && !dim.dimParam ? fixed : null;
    });
  }

  /**
   * The size of the last axis when the graph fixes it: declared, or read through the projection that
   * made the value (a MatMul or Gemm by a weight) and the elementwise ops after it (bias, norms, casts).
   */
  lastDim(value: string, depth = 0): number | undefined {
    const dims = this.dims(value);
    const last = dims?.[dims.length - 1];
    if (typeof last === 'number') return last;
    const node = this.index.producer(value) ?? this.current().producer(value);
    if (!node || depth > 12 || (node.domain ?? '') === 'com.microsoft' && !WIDTH_KEEPING.has(node.opType ?? '')) return undefined;
    const inputs = (node.input ?? []).filter(Boolean);
    const op = node.opType ?? '';
    if (op === 'MatMul') return inputs[1] ? this.lastDim(inputs[1], depth + 1) : undefined;
    if (op === 'Gemm') {
      const weight = this.dims(inputs[1] ?? '');
      const size = weight?.[(attrInt(node, 'transB') ?? 0) !== 0 ? 0 : 1];
      return typeof size === 'number' ? size : undefined;
    }
    if (!WIDTH_KEEPING.has(op)) return undefined;
    // Elementwise: any operand whose last axis is fixed and not broadcast (1) gives the width.
    const widths = inputs.map((input) => this.lastDim(input, depth + 1)).filter((width): width is number => width !== undefined && width > 1);
    return widths[0];
  }
}

/** Ops whose output's last axis is the (broadcast) last axis of their inputs. */
const WIDTH_KEEPING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Cast', 'Identity', 'Relu', 'Gelu', 'FastGelu', 'BiasGelu', 'LayerNormalization', 'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'Tanh', 'Sigmoid', 'Erf']);

/** The scale the kernels default to, 1/√H, computed as they do in float32. */
export function defaultScale(headSize: number): number {
  return Math.fround(1 / Math.fround(Math.sqrt(headSize)));
}

/** What the core computes: Q, K, V already in heads layout, with everything added to the scores. */
export interface CoreInputs {
  query: string; // [B, N, S, H]
  key: string; // [B, N, T, H]
  value: string; // [B, N, T, H_v]
  /** A number, or the name of a float scalar computed in the graph. */
  scale: number | string;
  attentionBias?: string; // [B|1, N|1, S, T]
  /** Additive masks, each broadcastable to [B, 1, S, T], added in this order. */
  masks: string[];
  output: string; // [B, S, N·H_v]
  /** The scores as they enter the Softmax (scaled, biased, masked), when the node exposes them. */
  scores?: string;
}

/** The core: returns the Softmax output (the probabilities). */
export function attentionCore(emit: Emitter, inputs: CoreInputs): string {
  const keyT = emit.op('Transpose', [inputs.key], [makeAttrInts('perm', [0, 1, 3, 2])]);
  const product = emit.op('MatMul', [inputs.query, keyT]);
  const scale = typeof inputs.scale === 'number' ? emit.scalar(inputs.scale) : inputs.scale;
  let scores = emit.op('Mul', [product, scale]);
  if (inputs.attentionBias) scores = emit.op('Add', [scores, inputs.attentionBias]);
  if (inputs.masks.length > 0) {
    let mask = inputs.masks[0] as string;
    for (const part of inputs.masks.slice(1)) mask = emit.op('Add', [mask, part]);
    scores = emit.op('Add', [scores, mask]);
  }
  if (inputs.scores) emit.op('Identity', [scores], [], inputs.scores);
  const probs = emit.op('Softmax', [scores], [makeAttrInt('axis', emit.editor.opset >= 13 ? -1 : 3)]);
  const context = emit.op('MatMul', [probs, inputs.value]);
  const merged = emit.op('Transpose', [context], [makeAttrInts('perm', [0, 2, 1, 3])]);
  emit.op('Reshape', [merged, emit.int64([0, 0, -1])], [], inputs.output);
  return probs;
}

/** 1/√H from a value whose last axis is H, computed in the graph (float32, as the kernels do). */
export function computedScale(emit: Emitter, heads: string): string {
  const size = emit.op('Cast', [emit.dimScalar(heads, 3)], [makeAttrInt('to', ElemType.FLOAT)]);
  const scale = emit.op('Reciprocal', [emit.op('Sqrt', [size])]);
  return emit.floatType === ElemType.FLOAT ? scale : emit.op('Cast', [scale], [makeAttrInt('to', emit.floatType)]);
}

/** `fill` where `keep` is false, 0 where true, in the kernel's float type. */
function additive(emit: Emitter, keep: string, fill: number): string {
  return emit.op('Where', [keep, emit.scalar(0), emit.scalar(fill)]);
}

/** How a kernel reads a 0/1 mask: keep where the value is > 0 (most), or where it is not 0 (DMMHA with beams). */
export type KeepRule = 'positive' | 'nonzero';

/** A 0/1 mask (any numeric type): true where it keeps. */
function keeps(emit: Emitter, mask: string, rule: KeepRule = 'positive'): string {
  const asFloat = emit.op('Cast', [mask], [makeAttrInt('to', ElemType.FLOAT)]);
  const zero = emit.editor.constant(ElemType.FLOAT, [], [0]);
  return rule === 'positive' ? emit.op('Greater', [asFloat, zero]) : emit.op('Not', [emit.op('Equal', [asFloat, zero])]);
}

/** key_padding_mask [B, T] (1 keep, 0 block) → additive [B, 1, 1, T]. */
export function rawKeyMask(emit: Emitter, mask: string, fill: number, rule: KeepRule = 'positive'): string {
  return emit.unsqueeze(additive(emit, keeps(emit, mask, rule), fill), [1, 2]);
}

/** key_padding_mask [B, S, T] → additive [B, 1, S, T]. */
export function rawAttentionMask(emit: Emitter, mask: string, fill: number): string {
  return emit.unsqueeze(additive(emit, keeps(emit, mask), fill), [1]);
}

/**
 * key_padding_mask [B] or [3B + 2] (the first B entries are each sequence's key count; the CPU
 * kernel reads only those) → additive [B, 1, 1, T] blocking keys at or after that count.
 */
export function keyLengthMask(emit: Emitter, mask: string, batchOf: string, keys: string, fill: number): string {
  const lengths = emit.slice(mask, emit.int64([0]), emit.dim(batchOf, 0), 0);
  const ends = emit.unsqueeze(emit.op('Cast', [lengths], [makeAttrInt('to', ElemType.INT64)]), [1]); // [B, 1]
  const total = emit.dimScalar(keys, 2);
  const positions = emit.unsqueeze(emit.op('Range', [emit.int64([0], true), total, emit.int64([1], true)]), [0]); // [1, T]
  const keep = emit.op('Less', [positions, ends]); // [B, T]
  return emit.unsqueeze(additive(emit, keep, fill), [1, 2]);
}

/**
 * The causal mask of `unidirectional`: query s (at absolute position P + s) may not see key j > P + s.
 * As in the CPU kernel it applies only when there is more than one query. [S, T].
 */
export function causalMask(emit: Emitter, query: string, keys: string, past: string | null, fill: number): string {
  const queries = emit.dimScalar(query, 2);
  const total = emit.dimScalar(keys, 2);
  const pastLength = past ? emit.dimScalar(past, 2) : emit.int64([0], true);
  const one = emit.int64([1], true);
  const queryPositions = emit.op('Range', [pastLength, emit.op('Add', [pastLength, queries]), one]);
  const keyPositions = emit.op('Range', [emit.int64([0], true), total, one]);
  const future = emit.op('Greater', [emit.unsqueeze(keyPositions, [0]), emit.unsqueeze(queryPositions, [1])]); // [S, T]
  const several = emit.op('Greater', [queries, one]);
  const blocked = emit.op('And', [future, several]);
  return emit.op('Where', [blocked, emit.scalar(fill), emit.scalar(0)]);
}

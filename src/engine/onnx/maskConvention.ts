/**
 * @file Which value of an attention-mask input means "keep this key". Exporters disagree: Hugging
 * Face masks are 1 = keep (the graph turns them into (1 − m)·(−∞)), Megatron's masked_fill masks
 * and fairseq's key_padding_mask are 1 = block. Feeding the wrong one silently masks every real
 * token, so the convention is read from the graph itself: the path from the input to where it
 * meets the scores is evaluated for an input of all zeros and of all ones, and the value that
 * leaves the scores untouched is "keep".
 *
 * The evaluation runs on uniform tensors (every element the same), so shape operations pass the
 * value through and elementwise operations compute it; any other operation, or a constant that is
 * not uniform, makes the answer unknown.
 */
import { attrInt, type NodeProto } from './model';
import type { FoundBlock } from './attentionBlocks';
import type { GraphIndex } from './graph';

/** The values a mask input takes for a key that is kept and for one that is blocked. */
export interface MaskConvention {
  keep: number;
  block: number;
}

/** The usual convention (Hugging Face, ONNX Runtime's masks): 1 keeps, 0 blocks. */
export const ONES_KEEP: MaskConvention = { keep: 1, block: 0 };

/** Operations that move or copy elements: a uniform input stays uniform with the same value. */
const PASS_THROUGH = new Set([
  'Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Expand', 'Transpose', 'Slice', 'Flatten', 'Tile', 'Gather',
  'GatherElements', 'GatherND', 'Pad', 'Split', 'Resize', 'DepthToSpace', 'SpaceToDepth',
]);

const UNARY: Readonly<Record<string, (x: number) => number>> = {
  Neg: (x) => -x,
  Not: (x) => (x ? 0 : 1),
  Abs: Math.abs,
  Sqrt: Math.sqrt,
  Exp: Math.exp,
  Log: Math.log,
  Reciprocal: (x) => 1 / x,
  Sign: Math.sign,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Relu: (x) => Math.max(0, x),
};

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
  Mod: (a, b) => a % b,
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  Greater: (a, b) => Number(a > b),
  LessOrEqual: (a, b) => Number(a <= b),
  GreaterOrEqual: (a, b) => Number(a >= b),
  And: (a, b) => Number(Boolean(a) && Boolean(b)),
  Or: (a, b) => Number(Boolean(a) || Boolean(b)),
  Xor: (a, b) => Number(Boolean(a) !== Boolean(b)),
};

/** ONNX TensorProto data types, for Cast. */
const BOOL = 9;
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

class UniformEvaluator {
  private readonly memo = new Map<string, number | undefined>();

  constructor(private readonly index: GraphIndex, private readonly input: string, private readonly value: number) {}

  evaluate(target: string, depth = 0): number | undefined {
    if (target === this.input) return this.value;
    if (this.memo.has(target)) return this.memo.get(target);
    this.memo.set(target, undefined); // cycle guard
    const result = depth > 64 ? undefined : this.compute(target, depth);
    this.memo.set(target, result);
    return result;
  }

  private compute(target: string, depth: number): number | undefined {
    const constant = this.index.constant(target);
    if (constant) return uniformValue(constant.values);
    const node = this.index.producer(target);
    if (!node) return undefined;
    const op = node.opType ?? '';
    const inputs = node.input ?? [];
    const at = (slot: number): number | undefined => (inputs[slot] ? this.evaluate(inputs[slot] as string, depth + 1) : undefined);
    if (PASS_THROUGH.has(op)) return at(0);
    if (op === 'Cast' || op === 'CastLike') return castTo(at(0), op === 'Cast' ? attrInt(node, 'to') : this.index.elemType(inputs[1] ?? ''));
    if (op in UNARY) {
      const x = at(0);
      return x === undefined ? undefined : UNARY[op](x);
    }
    if (op in BINARY) {
      const a = at(0);
      const b = at(1);
      return a === undefined || b === undefined ? undefined : BINARY[op](a, b);
    }
    if (op === 'Min' || op === 'Max' || op === 'Sum' || op === 'Concat') return this.variadic(node, depth);
    if (op === 'Where') {
      const condition = at(0);
      return condition === undefined ? undefined : at(condition ? 1 : 2);
    }
    if (op === 'Clip') {
      const x = at(0);
      if (x === undefined) return undefined;
      const low = inputs[1] ? at(1) : Number.NEGATIVE_INFINITY;
      const high = inputs[2] ? at(2) : Number.POSITIVE_INFINITY;
      return low === undefined || high === undefined ? undefined : Math.min(Math.max(x, low), high);
    }
    return undefined;
  }

  private variadic(node: NodeProto, depth: number): number | undefined {
    const values = (node.input ?? []).filter(Boolean).map((name) => this.evaluate(name, depth + 1));
    if (values.length === 0 || values.some((value) => value === undefined)) return undefined;
    const numbers = values as number[];
    switch (node.opType) {
      case 'Min': return Math.min(...numbers);
      case 'Max': return Math.max(...numbers);
      case 'Sum': return numbers.reduce((sum, value) => sum + value, 0);
      default: return numbers.every((value) => value === numbers[0]) ? numbers[0] : undefined; // Concat
    }
  }
}

function uniformValue(values: Float64Array): number | undefined {
  if (values.length === 0) return undefined;
  const first = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] !== first && !(Number.isNaN(values[i]) && Number.isNaN(first))) return undefined;
  return first;
}

function castTo(value: number | undefined, type: number | undefined): number | undefined {
  if (value === undefined || type === undefined) return value;
  if (type === BOOL) return value ? 1 : 0;
  if (FLOAT_TYPES.has(type)) return value;
  return Number.isFinite(value) ? Math.trunc(value) : value;
}

/** How far below zero an additive part must be to block a key (the tap decoder's threshold). */
const BLOCKING = -1e4;

/** The mask input's value that keeps a key, as one mask part shows it; undefined when it cannot tell. */
function keepValueOfPart(index: GraphIndex, input: string, part: FoundBlock['maskParts'][number]): number | undefined {
  const atZero = new UniformEvaluator(index, input, 0).evaluate(part.value);
  const atOne = new UniformEvaluator(index, input, 1).evaluate(part.value);
  if (atZero === undefined || atOne === undefined) return undefined;
  const keeps = (value: number): boolean | undefined => {
    if (part.encoding === 'additive') return Math.abs(value) < 1e-6 ? true : value <= BLOCKING ? false : undefined;
    if (part.encoding === 'where-keep-if-true') return Boolean(value);
    return !value;
  };
  const zeroKeeps = keeps(atZero);
  const oneKeeps = keeps(atOne);
  if (zeroKeeps === undefined || oneKeeps === undefined || zeroKeeps === oneKeeps) return undefined;
  return oneKeeps ? 1 : 0;
}

/**
 * The convention of the mask input `input`, from every block whose mask reads it; null when no
 * block tells (the path holds an operation this evaluation does not follow) or blocks disagree.
 */
export function maskConvention(index: GraphIndex, blocks: readonly FoundBlock[], input: string): MaskConvention | null {
  const found = new Set<number>();
  for (const block of blocks) {
    for (const part of block.maskParts) {
      if (!part.value || !index.inputsRead(part.value).has(input)) continue;
      const keep = keepValueOfPart(index, input, part);
      if (keep !== undefined) found.add(keep);
    }
  }
  if (found.size !== 1) return null;
  const keep = [...found][0];
  return { keep, block: 1 - keep };
}

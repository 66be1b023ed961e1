/**
 * @file Type and shape inference through the common ops, which exporters rarely write down (few
 * graphs carry value_info): the element type and rank of a value, and the entries of a 1-D shape
 * vector (a Reshape/Expand target). Memoised per graph; cycles in a corrupted graph infer "unknown".
 */
import { attrInt, attrInts, attrTensor, ElemType, valueInfoDims, valueInfoElemType } from './model';
import type { ConstantFolder } from './constantFolding';
import type { GraphStructure } from './graphStructure';
import { tensorDims } from './tensorValues';

/** Ops whose output has the rank of their (broadcast) inputs. */
const ELEMENTWISE = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or',
  'Xor', 'Not', 'Cast', 'CastLike', 'Relu', 'Erf', 'Tanh', 'Sqrt', 'Exp', 'Log', 'Softmax', 'LogSoftmax', 'Identity',
  'Dropout', 'Sigmoid', 'Neg', 'Max', 'Min', 'Abs', 'Reciprocal', 'Gelu', 'FastGelu', 'BiasGelu', 'QuickGelu', 'Clip',
  'IsNaN', 'IsInf', 'Mod', 'Trilu', 'LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization', 'RotaryEmbedding', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Mean', 'Sum',
  'BiasAdd', 'BiasDropout',
]);

const COMPARISON = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

/** The most axes a tensor of a real model has (ONNX Runtime allows far fewer); longer shape vectors are not read. */
const MAX_RANK = 64;

export class ShapeInference {
  private readonly rankMemo = new Map<string, number | undefined>();
  private readonly typeMemo = new Map<string, number | undefined>();
  private readonly shapeVisiting = new Set<string>();

  constructor(
    private readonly structure: GraphStructure,
    private readonly constants: ConstantFolder,
  ) {}

  /** Element type of a value (ElemType), inferred through the common ops; undefined when unknown. */
  elemType(value: string): number | undefined {
    return this.memoized(this.typeMemo, value, (v) => this.inferElemType(v));
  }

  /** Memoised inference; the value is marked unknown while it is being inferred, which breaks cycles. */
  private memoized(memo: Map<string, number | undefined>, value: string, infer: (value: string) => number | undefined): number | undefined {
    if (memo.has(value)) {
      return memo.get(value);
    }
    memo.set(value, undefined);
    const result = infer(value);
    memo.set(value, result);
    return result;
  }

  private inferElemType(value: string): number | undefined {
    const info = this.structure.valueInfo(value);
    const declared = info ? valueInfoElemType(info) : undefined;
    if (declared) {
      return declared;
    }
    const tensor = this.structure.constantTensor(value);
    if (tensor) {
      return tensor.dataType ?? undefined;
    }
    const node = this.structure.producer(value);
    if (!node) {
      return undefined;
    }
    const op = node.opType ?? '';
    const outputIndex = this.structure.producerOutputIndex(value);
    const inputs = node.input ?? [];
    if (op === 'Cast') {
      return attrInt(node, 'to');
    }
    if (op === 'Shape' || op === 'Size' || op === 'NonZero' || op === 'ArgMax' || op === 'ArgMin') {
      return ElemType.INT64;
    }
    if (COMPARISON.has(op)) {
      return ElemType.BOOL;
    }
    if (op === 'ConstantOfShape') {
      return attrTensor(node, 'value')?.dataType ?? ElemType.FLOAT;
    }
    if (op === 'Where') {
      return this.elemType(inputs[1] ?? '') ?? this.elemType(inputs[2] ?? '');
    }
    if (op === 'EmbedLayerNormalization' && outputIndex === 1) {
      return ElemType.INT32;
    }
    if (op === 'EmbedLayerNormalization') {
      return this.elemType(inputs[2] ?? '');
    }
    if ((op === 'Attention' && node.domain === 'com.microsoft') || op === 'MatMul' || op === 'Gemm') {
      return this.elemType(inputs[0] ?? '') ?? this.elemType(inputs[1] ?? '');
    }
    if (op === 'Gather') {
      return this.elemType(inputs[0] ?? '');
    }
    for (const input of inputs) {
      if (input) {
        const type = this.elemType(input);
        if (type !== undefined) {
          return type;
        }
      }
    }
    return undefined;
  }

  /** Rank of a value, inferred through the common ops; undefined when unknown. */
  rank(value: string): number | undefined {
    return this.memoized(this.rankMemo, value, (v) => {
      // A corrupted graph (a Squeeze of more axes than its input has) can infer a negative rank.
      const rank = this.inferRank(v);
      return rank !== undefined && Number.isInteger(rank) && rank >= 0 ? rank : undefined;
    });
  }

  private inferRank(value: string): number | undefined {
    const info = this.structure.valueInfo(value);
    const dims = info ? valueInfoDims(info) : undefined;
    if (dims) {
      return dims.length;
    }
    const tensor = this.structure.constantTensor(value);
    if (tensor) {
      return tensorDims(tensor).length;
    }
    const node = this.structure.producer(value);
    if (!node) {
      return undefined;
    }
    const op = node.opType ?? '';
    const inputs = node.input ?? [];
    const rankOf = (index: number): number | undefined => (inputs[index] ? this.rank(inputs[index] as string) : undefined);
    switch (op) {
      case 'MatMul': {
        const a = rankOf(0);
        const b = rankOf(1);
        if (a === undefined || b === undefined) {
          return a !== undefined && a >= 3 ? a : b !== undefined && b >= 3 ? b : undefined;
        }
        if (a === 1 || b === 1) {
          return Math.max(a, b) - 1;
        }
        return Math.max(a, b);
      }
      case 'Gemm':
      case 'Flatten':
        return 2;
      case 'Transpose':
        return attrInts(node, 'perm')?.length ?? rankOf(0);
      case 'Reshape': {
        const shape = this.shapeVector(inputs[1] ?? '');
        return shape?.length;
      }
      case 'Unsqueeze': {
        const axes = attrInts(node, 'axes') ?? this.constants.constantInts(inputs[1] ?? '');
        const base = rankOf(0);
        return base !== undefined && axes ? base + axes.length : undefined;
      }
      case 'Squeeze': {
        const axes = attrInts(node, 'axes') ?? this.constants.constantInts(inputs[1] ?? '');
        const base = rankOf(0);
        return base !== undefined && axes ? base - axes.length : undefined;
      }
      case 'Gather': {
        const data = rankOf(0);
        const indices = rankOf(1);
        return data !== undefined && indices !== undefined ? data - 1 + indices : undefined;
      }
      case 'Shape':
      case 'Range':
      case 'NonZero':
        return op === 'NonZero' ? 2 : 1;
      case 'Size':
        return 0;
      case 'ConstantOfShape':
        return this.shapeVector(inputs[0] ?? '')?.length;
      case 'Expand': {
        const base = rankOf(0);
        const shape = this.shapeVector(inputs[1] ?? '');
        return base !== undefined && shape ? Math.max(base, shape.length) : shape?.length;
      }
      case 'Split':
      case 'Slice':
      case 'Concat':
      case 'Tile':
      case 'Pad':
      case 'CumSum':
        return rankOf(0) ?? (op === 'Concat' ? firstDefined(inputs.map((_, index) => rankOf(index))) : undefined);
      case 'ReduceMean':
      case 'ReduceSum':
      case 'ReduceMax':
      case 'ReduceMin':
      case 'ReduceL2':
      case 'ReduceProd': {
        const base = rankOf(0);
        if (base === undefined) {
          return undefined;
        }
        const keep = attrInt(node, 'keepdims') ?? 1;
        if (keep) {
          return base;
        }
        const axes = attrInts(node, 'axes') ?? this.constants.constantInts(inputs[1] ?? '');
        return axes ? base - axes.length : 0;
      }
      case 'EmbedLayerNormalization':
        return this.structure.producerOutputIndex(value) === 1 ? 1 : 3;
      case 'Attention':
        return node.domain === 'com.microsoft' ? (this.structure.producerOutputIndex(value) === 0 ? 3 : 5) : 4;
      default:
        if (ELEMENTWISE.has(op)) {
          const ranks = inputs.map((input, index) => (input ? rankOf(index) : undefined)).filter((_, index) => inputs[index]);
          if (op === 'LayerNormalization' || op === 'SkipLayerNormalization' || op === 'SimplifiedLayerNormalization' || op === 'SkipSimplifiedLayerNormalization') {
            return ranks[0];
          }
          if (ranks.some((rank) => rank === undefined)) {
            // Broadcasting with an unknown operand: a known operand of rank ≥ 3 is the usual activation.
            const known = ranks.filter((rank): rank is number => rank !== undefined);
            return known.length > 0 && Math.max(...known) >= 3 ? Math.max(...known) : undefined;
          }
          return Math.max(...(ranks as number[]));
        }
        return undefined;
    }
  }

  /**
   * The entries of a 1-D shape tensor (a Reshape/Expand target): numbers where constant, null where
   * computed at run time. Follows Concat of pieces and Cast, the forms exporters write.
   */
  shapeVector(value: string): (number | null)[] | undefined {
    if (!value || this.shapeVisiting.has(value)) {
      return undefined; // a cycle (Concat of its own output) has no shape
    }
    this.shapeVisiting.add(value);
    try {
      return this.inferShapeVector(value);
    } finally {
      this.shapeVisiting.delete(value);
    }
  }

  private inferShapeVector(value: string): (number | null)[] | undefined {
    const constant = this.constants.constant(value);
    if (constant) {
      return Array.from(constant.values);
    }
    const node = this.structure.producer(value);
    if (!node) {
      const info = this.structure.valueInfo(value);
      const dims = info ? valueInfoDims(info) : undefined;
      // A shape vector has one entry per axis: a declared length beyond MAX_RANK is not one (or is corrupt).
      return dims && dims.length === 1 && dims[0] !== null && dims[0] <= MAX_RANK ? new Array<number | null>(dims[0]).fill(null) : undefined;
    }
    const op = node.opType ?? '';
    if (op === 'Cast' || op === 'Identity') {
      return this.shapeVector(node.input?.[0] ?? '');
    }
    if (op === 'Shape') {
      const rank = this.rank(node.input?.[0] ?? '');
      return rank !== undefined && rank <= MAX_RANK ? new Array<number | null>(rank).fill(null) : undefined;
    }
    if (op === 'Unsqueeze' && this.rank(node.input?.[0] ?? '') === 0) {
      const scalar = this.constants.scalarConstant(node.input?.[0] ?? '');
      return [scalar ?? null];
    }
    if (op === 'Concat') {
      const pieces: (number | null)[] = [];
      for (const input of node.input ?? []) {
        const piece = this.shapeVector(input);
        if (!piece) {
          return undefined;
        }
        pieces.push(...piece);
      }
      return pieces;
    }
    return undefined;
  }
}

function firstDefined(values: (number | undefined)[]): number | undefined {
  return values.find((value) => value !== undefined);
}

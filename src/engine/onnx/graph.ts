/**
 * @file An index over one ONNX graph for analysis: who produces and who consumes each value, a
 * topological order, graph inputs and outputs, constants (initializers and Constant nodes), and
 * light inference of element types, ranks and constant shape vectors, which exporters rarely write
 * down (few graphs carry value_info). Read-only: editors build new node lists from it.
 *
 * Vocabulary: a "value" is a tensor name; "static" values are computed from constants alone;
 * "data" edges are those that carry tensor contents, as opposed to the shape plumbing exporters
 * emit around every Reshape (Shape → Gather → Unsqueeze → Concat), which must not count as a
 * dependence on the tokens when we ask where a mask or a stream comes from.
 */
import {
  attrInt,
  attrInts,
  attrTensor,
  ElemType,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  tensorDims,
  tensorValues,
  type ValueInfoProto,
  valueInfoDims,
  valueInfoElemType,
  attrFloat,
  makeTensor,
  hasAttribute,
} from './model';

/** A use of a value: the consuming node and the input slot. */
export interface ValueUse {
  node: NodeProto;
  inputIndex: number;
}

/** A constant tensor read from the graph: dims and values as numbers. */
export interface ConstantValue {
  dims: number[];
  values: Float64Array;
}

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

/** Ops that only see their input's shape, never its contents. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/**
 * For ops whose later inputs are shape parameters (computed from Shape plumbing), the input slots that
 * carry tensor contents. Others: every input.
 */
const DATA_INPUTS: Record<string, number[]> = {
  Reshape: [0],
  Expand: [0],
  Slice: [0],
  Tile: [0],
  Squeeze: [0],
  Unsqueeze: [0],
  ConstantOfShape: [],
  Range: [],
  Resize: [0],
  Pad: [0, 2],
  TopK: [0],
  Split: [0],
  ReduceMean: [0],
  ReduceSum: [0],
  ReduceMax: [0],
  ReduceL2: [0],
};

export class GraphIndex {
  readonly graph: GraphProto;
  /** Nodes in a topological order that keeps the file's order wherever that order is valid. */
  readonly order: readonly NodeProto[];
  private readonly positions = new Map<NodeProto, number>();
  private readonly producers = new Map<string, { node: NodeProto; outputIndex: number }>();
  private readonly uses = new Map<string, ValueUse[]>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly constantNodes = new Map<string, TensorProto>();
  private readonly valueInfos = new Map<string, ValueInfoProto>();
  private readonly inputNames = new Set<string>();
  private readonly outputNames = new Set<string>();
  private readonly rankMemo = new Map<string, number | undefined>();
  private readonly typeMemo = new Map<string, number | undefined>();
  private readonly staticMemo = new Map<string, boolean>();
  private readonly constantMemo = new Map<string, ConstantValue | undefined>();
  private readonly shapeVisiting = new Set<string>();

  constructor(graph: GraphProto) {
    this.graph = graph;
    for (const tensor of graph.initializer ?? []) {
      if (tensor.name) {
        this.initializers.set(tensor.name, tensor);
      }
    }
    for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
      if (info.name) {
        this.valueInfos.set(info.name, info);
      }
    }
    for (const input of graph.input ?? []) {
      // Before IR 4 every initializer was also listed as an input; those are weights, not feeds.
      if (input.name && !this.initializers.has(input.name)) {
        this.inputNames.add(input.name);
      }
    }
    for (const output of graph.output ?? []) {
      if (output.name) {
        this.outputNames.add(output.name);
      }
    }
    const nodes = graph.node ?? [];
    for (const node of nodes) {
      (node.output ?? []).forEach((output, outputIndex) => {
        if (output) {
          this.producers.set(output, { node, outputIndex });
        }
      });
      (node.input ?? []).forEach((input, inputIndex) => {
        if (input) {
          const list = this.uses.get(input) ?? [];
          list.push({ node, inputIndex });
          this.uses.set(input, list);
        }
      });
      if (node.opType === 'Constant' && (node.domain ?? '') === '' && node.output?.[0]) {
        const tensor = constantNodeTensor(node);
        if (tensor) {
          this.constantNodes.set(node.output[0], tensor);
        }
      }
    }
    this.order = topologicalOrder(nodes, this.producers);
    this.order.forEach((node, index) => this.positions.set(node, index));
  }

  // -------------------------------------------------------------------------------------------
  // Structure

  /** The node that writes `value`, or undefined for graph inputs, initializers and unknown names. */
  producer(value: string): NodeProto | undefined {
    return this.producers.get(value)?.node;
  }

  /** Which output slot of its producer `value` is. */
  producerOutputIndex(value: string): number {
    return this.producers.get(value)?.outputIndex ?? -1;
  }

  consumers(value: string): readonly ValueUse[] {
    return this.uses.get(value) ?? [];
  }

  /** Position of a node in `order`. */
  position(node: NodeProto): number {
    return this.positions.get(node) ?? -1;
  }

  /** Position of a value's producer (-1 for graph inputs and constants). */
  valuePosition(value: string): number {
    const node = this.producer(value);
    return node ? this.position(node) : -1;
  }

  /** A graph input the caller feeds (not an initializer). */
  isGraphInput(value: string): boolean {
    return this.inputNames.has(value);
  }

  get graphInputs(): string[] {
    return [...this.inputNames];
  }

  isGraphOutput(value: string): boolean {
    return this.outputNames.has(value);
  }

  valueInfo(value: string): ValueInfoProto | undefined {
    return this.valueInfos.get(value);
  }

  /** Every value name in use, for making fresh names. */
  hasValue(value: string): boolean {
    return this.producers.has(value) || this.initializers.has(value) || this.valueInfos.has(value) || this.uses.has(value);
  }

  // -------------------------------------------------------------------------------------------
  // Constants

  /** The tensor behind a value that is an initializer or a Constant node's output. */
  constantTensor(value: string): TensorProto | undefined {
    return this.initializers.get(value) ?? this.constantNodes.get(value);
  }

  isConstant(value: string): boolean {
    return this.constantTensor(value) !== undefined;
  }

  /** Dims and numbers of a constant (through Identity/Cast/Unsqueeze of constants), when readable. */
  constant(value: string): ConstantValue | undefined {
    if (this.constantMemo.has(value)) {
      return this.constantMemo.get(value);
    }
    this.constantMemo.set(value, undefined); // cycle guard: Identity/Cast nodes that read each other
    let result: ConstantValue | undefined;
    const tensor = this.constantTensor(value);
    if (tensor) {
      const values = tensorValues(tensor);
      result = values ? { dims: tensorDims(tensor), values } : undefined;
    } else {
      const node = this.producer(value);
      if (node && ['Identity', 'Cast'].includes(node.opType ?? '') && node.input?.[0]) {
        result = this.constant(node.input[0]);
      }
    }
    this.constantMemo.set(value, result);
    return result;
  }

  /** The number in a one-element constant (a scale, an epsilon, a fill value). */
  scalarConstant(value: string): number | undefined {
    const constant = this.constant(value);
    return constant && constant.values.length === 1 ? constant.values[0] : undefined;
  }

  /** Computed from constants alone (no graph input, no shape of one). */
  isStatic(value: string): boolean {
    if (!value) {
      return true;
    }
    const memo = this.staticMemo.get(value);
    if (memo !== undefined) {
      return memo;
    }
    this.staticMemo.set(value, false); // cycle guard
    let result: boolean;
    if (this.isConstant(value)) {
      result = true;
    } else if (this.isGraphInput(value)) {
      result = false;
    } else {
      const node = this.producer(value);
      result = node !== undefined && (node.input ?? []).length > 0 && !RANDOM_OPS.has(node.opType ?? '') && (node.input ?? []).every((input) => this.isStatic(input));
      if (node && (node.input ?? []).length === 0) {
        result = !RANDOM_OPS.has(node.opType ?? '');
      }
    }
    this.staticMemo.set(value, result);
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Walks

  /**
   * Everything upstream of `value`: the nodes, graph inputs and constants reached. `dataOnly`
   * follows only data edges (see DATA_INPUTS) and never passes through Shape/Size, so shape plumbing
   * does not count as reading an input's contents.
   */
  upstream(value: string, options: { dataOnly: boolean; stopAt?: ReadonlySet<string> }): { nodes: Set<NodeProto>; inputs: Set<string>; constants: Set<string> } {
    const nodes = new Set<NodeProto>();
    const inputs = new Set<string>();
    const constants = new Set<string>();
    const seen = new Set<string>();
    const stack = [value];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (!current || seen.has(current)) {
        continue;
      }
      seen.add(current);
      if (options.stopAt?.has(current) && current !== value) {
        continue;
      }
      if (this.isGraphInput(current)) {
        inputs.add(current);
        continue;
      }
      if (this.isConstant(current)) {
        constants.add(current);
        if (this.producer(current)) {
          nodes.add(this.producer(current) as NodeProto);
        }
        continue;
      }
      const node = this.producer(current);
      if (!node) {
        continue;
      }
      nodes.add(node);
      if (options.dataOnly && SHAPE_ONLY.has(node.opType ?? '')) {
        continue;
      }
      const slots = options.dataOnly ? dataInputSlots(node) : null;
      (node.input ?? []).forEach((input, index) => {
        if (input && (!slots || slots.includes(index))) {
          stack.push(input);
        }
      });
    }
    return { nodes, inputs, constants };
  }

  /** Graph inputs whose contents flow into `value` (shape-only uses excluded). */
  inputsRead(value: string): Set<string> {
    return this.upstream(value, { dataOnly: true }).inputs;
  }

  /**
   * The values that stand for `value` when asking about dependence: itself, plus the sibling outputs
   * of a fused normalisation (SkipLayerNormalization's normalised output 0 and its sum output 3 are
   * the same stream position; EmbedLayerNormalization's output 0 is the norm of its sum output 2).
   */
  aliases(value: string): Set<string> {
    const node = this.producer(value);
    if (node && FUSED_NORMS.has(node.opType ?? '') && node.domain === 'com.microsoft') {
      return new Set((node.output ?? []).filter(Boolean));
    }
    return new Set([value]);
  }

  /** True when `ancestor` (or an alias of it) is upstream of `value` along data edges. */
  dependsOn(value: string, ancestor: string): boolean {
    const targets = this.aliases(ancestor);
    if (targets.has(value)) {
      return true;
    }
    const targetPosition = this.valuePosition(ancestor);
    const seen = new Set<string>();
    const stack = [value];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (targets.has(current)) {
        return true;
      }
      if (!current || seen.has(current)) {
        continue;
      }
      seen.add(current);
      const node = this.producer(current);
      // Producers sit after their inputs in `order`, so nothing before the ancestor can lead to it.
      if (!node || this.position(node) <= targetPosition || SHAPE_ONLY.has(node.opType ?? '')) {
        continue;
      }
      const slots = dataInputSlots(node);
      (node.input ?? []).forEach((input, index) => {
        if (input && slots.includes(index)) {
          stack.push(input);
        }
      });
    }
    return false;
  }

  /**
   * The nodes that lie on some data path from `from` (or an alias) to `to`, the node producing `to`
   * included, in topological order. Empty when `to` does not depend on `from`.
   */
  nodesBetween(from: string, to: string): NodeProto[] {
    const sources = this.aliases(from);
    const ancestors = new Set<string>();
    const fromPosition = this.valuePosition(from);
    const stack = [to];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (!current || ancestors.has(current)) {
        continue;
      }
      ancestors.add(current);
      if (sources.has(current)) {
        continue;
      }
      const node = this.producer(current);
      if (!node || this.position(node) <= fromPosition || SHAPE_ONLY.has(node.opType ?? '')) {
        continue;
      }
      const slots = dataInputSlots(node);
      (node.input ?? []).forEach((input, index) => {
        if (input && slots.includes(index)) {
          stack.push(input);
        }
      });
    }
    const starts = [...sources].filter((source) => ancestors.has(source));
    // Forward from the sources, staying inside the ancestors of `to`.
    const between = new Set<NodeProto>();
    const reached = new Set<string>(starts);
    const queue = [...starts];
    while (queue.length > 0) {
      const current = queue.shift() as string;
      for (const use of this.consumers(current)) {
        const slots = dataInputSlots(use.node);
        if (!slots.includes(use.inputIndex) || SHAPE_ONLY.has(use.node.opType ?? '')) {
          continue;
        }
        const outputs = (use.node.output ?? []).filter((output) => output && ancestors.has(output));
        if (outputs.length === 0) {
          continue;
        }
        between.add(use.node);
        for (const output of outputs) {
          if (!reached.has(output)) {
            reached.add(output);
            queue.push(output);
          }
        }
      }
    }
    return [...between].sort((a, b) => this.position(a) - this.position(b));
  }

  // -------------------------------------------------------------------------------------------
  // Types and shapes

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
    const info = this.valueInfos.get(value);
    const declared = info ? valueInfoElemType(info) : undefined;
    if (declared) {
      return declared;
    }
    const tensor = this.constantTensor(value);
    if (tensor) {
      return tensor.dataType ?? undefined;
    }
    const node = this.producer(value);
    if (!node) {
      return undefined;
    }
    const op = node.opType ?? '';
    const outputIndex = this.producerOutputIndex(value);
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
    const info = this.valueInfos.get(value);
    const dims = info ? valueInfoDims(info) : undefined;
    if (dims) {
      return dims.length;
    }
    const tensor = this.constantTensor(value);
    if (tensor) {
      return tensorDims(tensor).length;
    }
    const node = this.producer(value);
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
        const axes = attrInts(node, 'axes') ?? this.constantInts(inputs[1] ?? '');
        const base = rankOf(0);
        return base !== undefined && axes ? base + axes.length : undefined;
      }
      case 'Squeeze': {
        const axes = attrInts(node, 'axes') ?? this.constantInts(inputs[1] ?? '');
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
        const axes = attrInts(node, 'axes') ?? this.constantInts(inputs[1] ?? '');
        return axes ? base - axes.length : 0;
      }
      case 'EmbedLayerNormalization':
        return this.producerOutputIndex(value) === 1 ? 1 : 3;
      case 'Attention':
        return node.domain === 'com.microsoft' ? (this.producerOutputIndex(value) === 0 ? 3 : 5) : 4;
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

  /** Integers of a small constant (axes, perms). */
  constantInts(value: string): number[] | undefined {
    if (!value) {
      return undefined;
    }
    const constant = this.constant(value);
    return constant ? Array.from(constant.values, (number) => Math.trunc(number)) : undefined;
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
    const constant = this.constant(value);
    if (constant) {
      return Array.from(constant.values);
    }
    const node = this.producer(value);
    if (!node) {
      const info = this.valueInfos.get(value);
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
      const scalar = this.scalarConstant(node.input?.[0] ?? '');
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

/** The most axes a tensor of a real model has (ONNX Runtime allows far fewer); longer shape vectors are not read. */
const MAX_RANK = 64;

/** com.microsoft fused normalisations whose outputs are views of one stream position. */
const FUSED_NORMS = new Set(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization']);

const RANDOM_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

function firstDefined(values: (number | undefined)[]): number | undefined {
  return values.find((value) => value !== undefined);
}

/** Input slots of a node that carry tensor contents. */
export function dataInputSlots(node: NodeProto): number[] {
  const slots = DATA_INPUTS[node.opType ?? ''];
  return slots ?? (node.input ?? []).map((_, index) => index);
}

/** The tensor of a Constant node, from whichever attribute form it uses. */
function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  const tensor = attrTensor(node, 'value');
  if (tensor) {
    return tensor;
  }
  if (hasAttribute(node, 'value_float')) {
    return makeTensor('', ElemType.FLOAT, [], [attrFloat(node, 'value_float') ?? 0]);
  }
  if (hasAttribute(node, 'value_int')) {
    return makeTensor('', ElemType.INT64, [], [attrInt(node, 'value_int') ?? 0]);
  }
  const ints = attrInts(node, 'value_ints');
  if (ints) {
    return makeTensor('', ElemType.INT64, [ints.length], ints);
  }
  const floats = (node.attribute ?? []).find((attribute) => attribute.name === 'value_floats')?.floats;
  if (floats) {
    return makeTensor('', ElemType.FLOAT, [floats.length], floats);
  }
  return undefined;
}

/**
 * Kahn's algorithm, always taking the ready node that comes first in the file, so a file that is
 * already sorted keeps its order (and its layer order). Nodes left over (cycles, or values only a
 * subgraph defines) are appended in file order.
 */
function topologicalOrder(nodes: readonly NodeProto[], producers: Map<string, { node: NodeProto; outputIndex: number }>): NodeProto[] {
  const indexOf = new Map<NodeProto, number>();
  nodes.forEach((node, index) => indexOf.set(node, index));
  const waiting = new Map<NodeProto, number>();
  const dependents = new Map<NodeProto, NodeProto[]>();
  for (const node of nodes) {
    const parents = new Set<NodeProto>();
    for (const input of node.input ?? []) {
      const producer = input ? producers.get(input)?.node : undefined;
      if (producer && producer !== node) {
        parents.add(producer);
      }
    }
    waiting.set(node, parents.size);
    for (const parent of parents) {
      const list = dependents.get(parent) ?? [];
      list.push(node);
      dependents.set(parent, list);
    }
  }
  const heap = new MinHeap();
  for (const node of nodes) {
    if (waiting.get(node) === 0) {
      heap.push(indexOf.get(node) as number);
    }
  }
  const order: NodeProto[] = [];
  const placed = new Set<NodeProto>();
  while (heap.size > 0) {
    const node = nodes[heap.pop()] as NodeProto;
    order.push(node);
    placed.add(node);
    for (const child of dependents.get(node) ?? []) {
      const left = (waiting.get(child) ?? 0) - 1;
      waiting.set(child, left);
      if (left === 0) {
        heap.push(indexOf.get(child) as number);
      }
    }
  }
  for (const node of nodes) {
    if (!placed.has(node)) {
      order.push(node);
    }
  }
  return order;
}

class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: number): void {
    const items = this.items;
    items.push(value);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((items[parent] as number) <= value) {
        break;
      }
      items[index] = items[parent] as number;
      index = parent;
    }
    items[index] = value;
  }
  pop(): number {
    const items = this.items;
    const top = items[0] as number;
    const last = items.pop() as number;
    if (items.length > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= items.length) {
          break;
        }
        const right = left + 1;
        const child = right < items.length && (items[right] as number) < (items[left] as number) ? right : left;
        if ((items[child] as number) >= last) {
          break;
        }
        items[index] = items[child] as number;
        index = child;
      }
      items[index] = last;
    }
    return top;
  }
}

/**
 * @file GraphEditor: adds nodes, constants and graph outputs to the tapper's copy of a model, with
 * fresh names under one prefix, and replaces nodes in place.
 */
import { describeNode, ElemType, type GraphProto, graphOf, makeAttrInt, makeAttrInts, makeNode, makeValueInfo, type ModelProto, type NodeProto, opsetVersion } from './model';
import { makeTensor } from './tensorValues';

/** Prefix of every value and node the tapper adds, so they are easy to tell apart. */
const PREFIX = 'attention_lens';

/** Adds nodes, constants and outputs to a model copy, with fresh names. */
export class GraphEditor {
  readonly model: ModelProto;
  private readonly graph: GraphProto;
  private readonly taken = new Set<string>();
  private readonly appended: NodeProto[] = [];
  private counter = 0;

  constructor(model: ModelProto) {
    this.model = model;
    this.graph = graphOf(model);
    for (const node of this.graph.node ?? []) {
      node.output?.forEach((name) => this.taken.add(name));
      node.input?.forEach((name) => this.taken.add(name));
      if (node.name) {
        this.taken.add(node.name);
      }
    }
    for (const tensor of this.graph.initializer ?? []) {
      this.taken.add(tensor.name ?? '');
    }
    for (const info of [...(this.graph.input ?? []), ...(this.graph.output ?? [])]) {
      this.taken.add(info.name ?? '');
    }
  }

  get opset(): number {
    return opsetVersion(this.model, '');
  }

  fresh(base: string): string {
    for (;;) {
      const name = `${PREFIX}/${base}_${this.counter++}`;
      if (!this.taken.has(name)) {
        this.taken.add(name);
        return name;
      }
    }
  }

  /** A node appended at the end (for taps); returns its first output. */
  append(opType: string, inputs: string[], attributes = [] as ReturnType<typeof makeAttrInt>[], outputName?: string): string {
    const output = outputName ?? this.fresh(opType.toLowerCase());
    this.appended.push(makeNode(opType, inputs, [output], this.fresh(`${opType}_node`), attributes));
    return output;
  }

  /** A node for a replacement sequence (not added to the graph here). */
  node(opType: string, inputs: string[], attributes = [] as ReturnType<typeof makeAttrInt>[], outputName?: string): { node: NodeProto; output: string } {
    const output = outputName ?? this.fresh(opType.toLowerCase());
    return { node: makeNode(opType, inputs, [output], this.fresh(`${opType}_node`), attributes), output };
  }

  constant(dataType: number, dims: number[], values: number[]): string {
    const name = this.fresh('const');
    (this.graph.initializer as NonNullable<GraphProto['initializer']>).push(makeTensor(name, dataType, dims, values));
    return name;
  }

  int64(values: number[], scalar = false): string {
    return this.constant(ElemType.INT64, scalar ? [] : [values.length], values);
  }

  /** Replace `old` (same position) by `replacement`. */
  replace(old: NodeProto, replacement: NodeProto[]): void {
    const nodes = this.graph.node as NodeProto[];
    const at = nodes.indexOf(old);
    if (at < 0) {
      throw new Error(`node ${describeNode(old)} not in graph`);
    }
    nodes.splice(at, 1, ...replacement);
  }

  addOutput(name: string, elemType: number): void {
    const outputs = this.graph.output as NonNullable<GraphProto['output']>;
    if (!outputs.some((output) => output.name === name)) {
      outputs.push(makeValueInfo(name, elemType));
    }
  }

  /** Unsqueeze in the form the model's opset wants (axes attribute before 13, input from 13). */
  unsqueeze(input: string, axes: number[], outputName?: string): { node: NodeProto; output: string } {
    return this.opset >= 13 ? this.node('Unsqueeze', [input, this.int64(axes)], [], outputName) : this.node('Unsqueeze', [input], [makeAttrInts('axes', axes)], outputName);
  }

  appendNode(node: NodeProto): void {
    this.appended.push(node);
  }

  /** Adds the tap nodes after every original node (taps only read values). */
  commit(): void {
    (this.graph.node as NodeProto[]).push(...this.appended);
    this.appended.length = 0;
  }
}

/**
 * @file The structure of one ONNX graph, indexed: who produces and who consumes each value, a
 * topological order and each node's place in it, the graph inputs a caller feeds, declared value
 * infos, and the constant tensors (initializers and Constant nodes). The analyses in graphReach.ts,
 * constantFolding.ts and shapeInference.ts read the graph only through it; GraphIndex (graph.ts) is
 * this index with those analyses on it. Read-only: editors build new node lists from it.
 */
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from './model';
import { constantNodeTensor } from './tensorValues';
import { topologicalOrder } from './topologicalOrder';

/** A use of a value: the consuming node and the input slot. */
export interface ValueUse {
  node: NodeProto;
  inputIndex: number;
}

export class GraphStructure {
  /** Nodes in a topological order that keeps the file's order wherever that order is valid. */
  readonly order: readonly NodeProto[];
  private readonly positions = new Map<NodeProto, number>();
  private readonly producers = new Map<string, { node: NodeProto; outputIndex: number }>();
  private readonly uses = new Map<string, ValueUse[]>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly constantNodes = new Map<string, TensorProto>();
  private readonly valueInfos = new Map<string, ValueInfoProto>();
  private readonly inputNames = new Set<string>();

  constructor(graph: GraphProto) {
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

  valueInfo(value: string): ValueInfoProto | undefined {
    return this.valueInfos.get(value);
  }

  /** The tensor behind a value that is an initializer or a Constant node's output. */
  constantTensor(value: string): TensorProto | undefined {
    return this.initializers.get(value) ?? this.constantNodes.get(value);
  }

  isConstant(value: string): boolean {
    return this.constantTensor(value) !== undefined;
  }
}

/**
 * @file A small builder of one-node (or few-node) ONNX graphs around onnxruntime's fused kernels, for
 * the fidelity tests of their rewrites (test/unit/fusedMultiHead.test.ts): inputs with fixed shapes,
 * constant weights, nodes in any domain, and float/int/ints attributes. Also the feeds those graphs
 * take (seeded random numbers in the graph's own element types) and an onnxruntime-web runner.
 */
import { onnx } from 'onnx-proto';
import ort = require('onnxruntime-web');
import { withOpenGates } from './headGates';
import { floatToHalf, halfToFloat } from '../../src/engine/half';
import { ElemType, encodeModel, makeNode, makeValueInfo, type ModelProto, type NodeProto } from '../../src/engine/onnx/model';
import { makeTensor } from '../../src/engine/onnx/tensorValues';

/** An attribute value: a number is an int unless `float` says otherwise; arrays are ints; `graph` a subgraph. */
export type AttributeValue = number | number[] | { float: number } | { graph: onnx.IGraphProto };

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (xorshift32). */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
}

export function attributes(values: Record<string, AttributeValue>): onnx.IAttributeProto[] {
  const types = onnx.AttributeProto.AttributeType;
  return Object.entries(values).map(([name, value]) => {
    if (Array.isArray(value)) return { name, type: types.INTS, ints: value };
    if (typeof value === 'number') return { name, type: types.INT, i: value };
    if ('graph' in value) return { name, type: types.GRAPH, g: value.graph };
    return { name, type: types.FLOAT, f: value.float };
  });
}

/** A graph under construction: declared inputs (fixed shapes), constants, nodes and outputs. */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  /** Shapes and types of the inputs, for feedsFor. */
  readonly declared = new Map<string, { type: number; dims: number[] }>();

  input(name: string, type: number, dims: number[]): string {
    const dim = dims.map((value) => ({ dimValue: value }));
    this.inputs.push(new onnx.ValueInfoProto({ name, type: { tensorType: { elemType: type, shape: { dim } } } }));
    this.declared.set(name, { type, dims });
    return name;
  }

  constant(name: string, type: number, dims: number[], values: number[]): string {
    this.initializers.push(makeTensor(name, type, dims, values));
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], values: Record<string, AttributeValue> = {}, domain = ''): this {
    this.nodes.push(makeNode(opType, inputs, outputs, `${opType.toLowerCase()}_${this.nodes.length}`, attributes(values), domain));
    return this;
  }

  output(name: string, type: number): this {
    this.outputs.push(makeValueInfo(name, type));
    return this;
  }

  /** The graph alone (a subgraph for If, Loop or BeamSearch). */
  graph(name = 'fused'): onnx.GraphProto {
    return new onnx.GraphProto({ name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers });
  }

  model(opset = 17): ModelProto {
    const graph = this.graph();
    const opsetImport = [{ domain: '', version: opset }, { domain: 'com.microsoft', version: 1 }];
    return new onnx.ModelProto({ irVersion: 8, opsetImport, producerName: 'attention-lens-test', graph });
  }
}

export function ortTensor(type: number, values: ArrayLike<number>, dims: number[]): ort.Tensor {
  switch (type) {
    case ElemType.INT64:
      return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (value) => BigInt(value))), dims);
    case ElemType.INT32:
      return new ort.Tensor('int32', Int32Array.from(values), dims);
    case ElemType.FLOAT16:
      return new ort.Tensor('float16', Uint16Array.from(Array.from(values, floatToHalf)), dims);
    case ElemType.BOOL:
      return new ort.Tensor('bool', Uint8Array.from(values), dims);
    default:
      return new ort.Tensor('float32', Float32Array.from(values), dims);
  }
}

/** Numbers of any tensor (fp16 widened, ints as numbers). */
export function numbers(tensor: ort.Tensor): Float64Array {
  const data = tensor.data as ArrayLike<number | bigint>;
  if (tensor.type === 'float16') return Float64Array.from(data as Uint16Array, (bits) => halfToFloat(bits));
  return Float64Array.from(Array.from(data, (value) => Number(value)));
}

/** Random float feeds for every float input of `builder`, except those given in `fixed`. */
export function feedsFor(builder: GraphBuilder, seed: number, fixed: Record<string, number[]> = {}): Record<string, ort.Tensor> {
  const next = random(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, { type, dims }] of builder.declared) {
    const count = dims.reduce((a, b) => a * b, 1);
    const values = fixed[name] ?? Array.from({ length: count }, () => next() * 2);
    feeds[name] = ortTensor(type, values, dims);
  }
  return feeds;
}

/** Runs a model once on onnxruntime-web (WASM) and releases the session. */
export async function runModel(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    return await session.run(withOpenGates(session.inputNames, feeds));
  } finally {
    await session.release();
  }
}

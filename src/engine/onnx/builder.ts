/**
 * @file A small writer of ONNX graphs (onnx-proto objects): named initializers, nodes with unique
 * output names, typed graph inputs and outputs. The exporter builds the built-in model with it; the
 * tests build deliberately broken models with it.
 */
import { onnx } from 'onnx-proto';

export type AttributeValue = number | number[] | string | { floats: number[] } | { tensor: onnx.ITensorProto };

export const ElementType = onnx.TensorProto.DataType;

/** A graph input/output dimension: a fixed size or a symbolic name ("sequence"). */
export type Dimension = number | string;

function valueInfo(name: string, elementType: number, dims: readonly Dimension[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elementType,
        shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: Type.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: Type.INTS, ints: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: Type.INT, i: value } : { name, type: Type.FLOAT, f: value };
  }
  if ('floats' in value) return { name, type: Type.FLOATS, floats: value.floats };
  return { name, type: Type.TENSOR, t: value.tensor };
}

/** Little-endian bytes of a typed array, as TensorProto.raw_data wants. */
function rawBytes(values: Float32Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly usedNames = new Set<string>();
  private counter = 0;

  /** A value name not used yet, derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.usedNames.has(name)) name = `${hint}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, elementType: number, dims: readonly Dimension[]): string {
    this.usedNames.add(name);
    this.inputs.push(valueInfo(name, elementType, dims));
    return name;
  }

  output(name: string, elementType: number, dims: readonly Dimension[]): void {
    this.outputs.push(valueInfo(name, elementType, dims));
  }

  floatTensor(name: string, dims: readonly number[], values: Float32Array | readonly number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, dims: [...dims], dataType: ElementType.FLOAT, rawData: rawBytes(data) });
    return unique;
  }

  int64Tensor(name: string, dims: readonly number[], values: readonly number[]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, dims: [...dims], dataType: ElementType.INT64, rawData: rawBytes(BigInt64Array.from(values.map(BigInt))) });
    return unique;
  }

  /** Adds a node; returns its output names (fresh ones derived from `outputHint` unless given). */
  node(opType: string, inputs: readonly string[], outputHint: string | string[], attributes: Record<string, AttributeValue> = {}, domain = ''): string[] {
    const outputs = (Array.isArray(outputHint) ? outputHint : [outputHint]).map((hint) => this.fresh(hint));
    this.nodes.push({
      name: this.fresh(`${opType}_${outputs[0]}`),
      opType,
      domain,
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outputs;
  }

  /** One-output node, the common case. */
  op(opType: string, inputs: readonly string[], outputHint: string, attributes: Record<string, AttributeValue> = {}): string {
    return this.node(opType, inputs, outputHint, attributes)[0];
  }

  build(options: { graphName: string; opset: number; producer: string; metadata?: Record<string, string>; docString?: string }): onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: options.producer,
      producerVersion: '1',
      docString: options.docString ?? '',
      opsetImport: [{ domain: '', version: options.opset }],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }
}

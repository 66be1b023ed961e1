/**
 * @file Decoding, encoding and reading an ONNX ModelProto (onnx-proto / protobufjs), with the errors a
 * user can act on. This module and tensorValues.ts (tensor contents: numbers in `rawData` or in one of
 * six typed fields) are the only ones that touch protobufjs's loose types: int64 fields that arrive as
 * `Long`, attributes of any kind. Everything they export speaks plain numbers, strings and typed arrays.
 *
 * It also holds the small constructors (nodes, attributes, value infos; constant tensors are in
 * tensorValues.ts) the graph editors use, so that no other module builds protobuf objects by hand.
 */
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../../shared/errors';

export type ModelProto = onnx.ModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;
export type TensorProto = onnx.ITensorProto;
export type AttributeProto = onnx.IAttributeProto;
export type ValueInfoProto = onnx.IValueInfoProto;

/** ONNX element types (TensorProto.DataType) under readable names. */
export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

/** A protobufjs int64: a plain number or a `Long` (only `toNumber` is used). */
type Int64Like = number | { toNumber(): number } | null | undefined;

/** The largest protobuf message: 2 GB. ONNX files above it must keep weights as external data. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** int64 → number. Values beyond 2^53 lose precision, which no shape or attribute here reaches. */
export function toNumber(value: Int64Like): number {
  if (value === null || value === undefined) {
    return 0;
  }
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * Bytes → ModelProto, or a UserFacingError saying what the file is and what to do.
 * `fileName` only improves the messages.
 */
export function decodeModel(bytes: Uint8Array, fileName = 'the model file'): ModelProto {
  if (bytes.byteLength === 0) {
    throw new UserFacingError(`${fileName} is empty.`, 'Choose an .onnx file exported from your model.');
  }
  if (bytes.byteLength > PROTOBUF_LIMIT) {
    throw new UserFacingError(
      `${fileName} is ${(bytes.byteLength / 2 ** 30).toFixed(1)} GB: an ONNX file cannot be over 2 GB with its weights inside.`,
      'Export with external data (e.g. torch.onnx.export(..., external_data=True) or onnx.save_model(m, "model.onnx", ' +
        'save_as_external_data=True)); the weights then go to model.onnx.data beside model.onnx.',
    );
  }
  const foreign = recogniseForeignFormat(bytes);
  if (foreign) {
    throw new UserFacingError(`${fileName} is not an ONNX model: it looks like ${foreign}.`, 'Export the model to ONNX first (torch.onnx.export, optimum-cli export onnx, or tf2onnx).');
  }
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    // protobufjs reports reads past the end as "index out of range: A + B > C". Real ONNX files start
    // with field 1 (ir_version, a varint: byte 0x08); garbage that runs off its end is not "cut short".
    if (/index out of range/i.test(text) && bytes[0] === 0x08) {
      throw new UserFacingError(
        `${fileName} is cut short (${bytes.byteLength} bytes): it ends in the middle of the model.`,
        'Copy or download the file again; if it has a .onnx.data file beside it, keep both together.',
      );
    }
    throw new UserFacingError(`${fileName} is not an ONNX model (${text}).`, 'Choose the .onnx file your exporter wrote.');
  }
  // Protobuf decodes many random byte strings without complaint, so check the fields every ONNX file has.
  if (!model.graph || model.opsetImport.length === 0 || toNumber(model.irVersion) <= 0) {
    throw new UserFacingError(`${fileName} is not an ONNX model (no graph, IR version or opset).`, 'Choose the .onnx file your exporter wrote.');
  }
  if ((model.graph.node ?? []).length === 0) {
    throw new UserFacingError(`${fileName} has an empty graph: no operators to run.`, 'Export the whole model, not only its weights.');
  }
  return model;
}

/** Known non-ONNX files users pick by mistake, recognised by their first bytes. */
function recogniseForeignFormat(bytes: Uint8Array): string | null {
  const head = String.fromCharCode(...bytes.subarray(0, 8));
  if (head.startsWith('PK')) {
    return 'a zip archive (a PyTorch .pt/.bin checkpoint or a .zip)';
  }
  if (head.startsWith('{') || head.startsWith('[')) {
    return 'a JSON file (config.json or tokenizer.json?)';
  }
  if (head.startsWith('\x89HDF')) {
    return 'an HDF5 file (a Keras .h5 model)';
  }
  if (bytes.byteLength > 10 && bytes[8] === 0x7b && bytes[9] === 0x22) {
    return 'a safetensors file (weights only, no graph)';
  }
  if (head.startsWith('GGUF')) {
    return 'a GGUF file (llama.cpp)';
  }
  return null;
}

/** ModelProto → bytes. */
export function encodeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/**
 * A copy of the model whose graph lists (nodes, inputs, outputs, initializers, value infos) are new
 * arrays, so an editor can add and replace entries without touching the original. Tensors and
 * untouched nodes are shared, not copied: weights can be hundreds of megabytes. Replace a node
 * object rather than mutating it.
 */
export function cloneForEdit(model: ModelProto): ModelProto {
  const graph = model.graph as onnx.GraphProto;
  const copy = new onnx.ModelProto({ ...model });
  copy.graph = new onnx.GraphProto({
    ...graph,
    node: graph.node.slice(),
    input: graph.input.slice(),
    output: graph.output.slice(),
    initializer: graph.initializer.slice(),
    valueInfo: graph.valueInfo.slice(),
  });
  copy.opsetImport = model.opsetImport.slice();
  return copy;
}

/** The graph of a decoded model (decodeModel guarantees it exists). */
export function graphOf(model: onnx.IModelProto): GraphProto {
  if (!model.graph) {
    throw new UserFacingError('The ONNX model has no graph.', 'Export the whole model, not only its weights.');
  }
  return model.graph;
}

/** Opset version imported for a domain ('' and 'ai.onnx' are the same domain); 0 when not imported. */
export function opsetVersion(model: onnx.IModelProto, domain = ''): number {
  const wanted = domain === 'ai.onnx' ? '' : domain;
  for (const entry of model.opsetImport ?? []) {
    const entryDomain = entry.domain === 'ai.onnx' ? '' : entry.domain ?? '';
    if (entryDomain === wanted) {
      return toNumber(entry.version);
    }
  }
  return 0;
}

/** External data files the model's tensors point to (relative to the model's folder). */
export function externalDataFiles(model: onnx.IModelProto): string[] {
  const files = new Set<string>();
  const visit = (tensor: TensorProto | null | undefined): void => {
    if (!tensor || tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) {
      return;
    }
    for (const entry of tensor.externalData ?? []) {
      if (entry.key === 'location' && entry.value) {
        files.add(entry.value);
      }
    }
  };
  const graph = graphOf(model);
  graph.initializer?.forEach(visit);
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      visit(attribute.t);
    }
  }
  return [...files];
}

// ---------------------------------------------------------------------------------------------
// Attributes

function findAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((attribute) => attribute.name === name);
}

export function attrInt(node: NodeProto, name: string): number | undefined {
  const attribute = findAttribute(node, name);
  return attribute ? toNumber(attribute.i) : undefined;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const attribute = findAttribute(node, name);
  return attribute ? (attribute.ints ?? []).map((value) => toNumber(value)) : undefined;
}

export function attrFloat(node: NodeProto, name: string): number | undefined {
  const attribute = findAttribute(node, name);
  return attribute ? attribute.f ?? 0 : undefined;
}

export function attrTensor(node: NodeProto, name: string): TensorProto | undefined {
  return findAttribute(node, name)?.t ?? undefined;
}

export function hasAttribute(node: NodeProto, name: string): boolean {
  return findAttribute(node, name) !== undefined;
}

export function makeAttrInt(name: string, value: number): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

export function makeAttrInts(name: string, values: number[]): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

/** A copy of `node` with attribute `attribute.name` set (replaced or added). */
export function withAttribute(node: NodeProto, attribute: AttributeProto): NodeProto {
  const others = (node.attribute ?? []).filter((existing) => existing.name !== attribute.name);
  return new onnx.NodeProto({ ...node, attribute: [...others, attribute] });
}

// ---------------------------------------------------------------------------------------------
// Nodes and value infos

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attributes: AttributeProto[] = [], domain = ''): NodeProto {
  return new onnx.NodeProto({ opType, input: inputs, output: outputs, name, attribute: attributes, domain });
}

/** A graph output declaration: element type only, no shape (ORT accepts that). */
export function makeValueInfo(name: string, elemType: number): ValueInfoProto {
  return new onnx.ValueInfoProto({ name, type: { tensorType: { elemType } } });
}

/** Element type declared for a value info, when it is a tensor. */
export function valueInfoElemType(info: ValueInfoProto): number | undefined {
  const type = info.type?.tensorType?.elemType;
  return type ? type : undefined;
}

/** Declared dims of a value info: numbers, or null for symbolic / unknown dims; undefined when the rank is unknown. */
export function valueInfoDims(info: ValueInfoProto): (number | null)[] | undefined {
  const shape = info.type?.tensorType?.shape;
  if (!shape) {
    return undefined;
  }
  return (shape.dim ?? []).map((dim) => (dim.dimValue !== null && dim.dimValue !== undefined && !dim.dimParam && toNumber(dim.dimValue) > 0 ? toNumber(dim.dimValue) : null));
}

/** Names a node for messages: its name, else its type and first output. */
export function describeNode(node: NodeProto): string {
  const domain = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.` : '';
  return node.name ? `${domain}${node.opType} "${node.name}"` : `${domain}${node.opType} (output "${node.output?.[0] ?? '?'}")`;
}

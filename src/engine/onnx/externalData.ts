/**
 * @file Moving a model's large weights into external data, the way `onnx.save(...,
 * save_as_external_data=True)` does: a protocol-buffer file cannot pass 2 GB, so a model as big as
 * qwen2-shape (2 GB of float32 weights) keeps its tensors in a second file that the model refers to
 * by name, offset and length.
 */
import { onnx } from 'onnx-proto';

/** Tensors at least this big move out; small constants (shapes, scalars) stay where the graph analysis reads them. */
const MIN_EXTERNAL_BYTES = 1024;
/** Each tensor starts at a multiple of this, so readers can map the file and view it in place. */
const ALIGNMENT = 64;

export interface ExternalizedModel {
  /** The same model, its large initializers pointing into `data`. */
  model: onnx.ModelProto;
  /** The file name the model refers to, and its bytes. */
  location: string;
  data: Uint8Array;
}

/** Whether a model's weights are too big for one protocol-buffer file (with room to spare for the graph). */
export function needsExternalData(model: onnx.IModelProto, limitBytes = 1.5 * 2 ** 30): boolean {
  let total = 0;
  for (const tensor of model.graph?.initializer ?? []) total += tensor.rawData?.byteLength ?? 0;
  return total > limitBytes;
}

/** Moves every initializer of MIN_EXTERNAL_BYTES or more into one data block named `location`. */
export function externalizeInitializers(model: onnx.ModelProto, location: string): ExternalizedModel {
  const moving = (model.graph?.initializer ?? []).filter((tensor) => (tensor.rawData?.byteLength ?? 0) >= MIN_EXTERNAL_BYTES);
  let size = 0;
  for (const tensor of moving) size = Math.ceil(size / ALIGNMENT) * ALIGNMENT + (tensor.rawData?.byteLength ?? 0);
  const data = new Uint8Array(size);
  let offset = 0;
  for (const tensor of moving) {
    const raw = tensor.rawData as Uint8Array;
    offset = Math.ceil(offset / ALIGNMENT) * ALIGNMENT;
    data.set(raw, offset);
    tensor.externalData = [
      onnx.StringStringEntryProto.create({ key: 'location', value: location }),
      onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
      onnx.StringStringEntryProto.create({ key: 'length', value: String(raw.byteLength) }),
    ];
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.rawData = new Uint8Array(0);
    offset += raw.byteLength;
  }
  return { model, location, data };
}

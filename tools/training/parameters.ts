/**
 * @file The trainable parameters as one flat float64 buffer, laid out tensor after tensor in the
 * reference model's weight order (weights.ts `weightSpecs`), under the reference's names.
 *
 * One flat buffer makes the optimizer a single loop, lets gradients of two workers be summed in one
 * pass, and lets the buffer live in a SharedArrayBuffer the workers read without copies. The same
 * layout over another buffer holds the gradients.
 */
import type { TransformerConfig } from '../../src/engine/reference/config';
import type { SafetensorsTensor } from '../../src/engine/reference/safetensors';
import { type WeightSpec, WeightStore, weightSpecs } from '../../src/engine/reference/weights';

export interface TensorSlot {
  readonly name: string;
  readonly shape: readonly number[];
  /** First element in the flat buffer. */
  readonly offset: number;
  readonly size: number;
  /** Weight decay applies to matrices (linear weights, the embedding), not to biases and norm gains. */
  readonly decays: boolean;
}

export class ParameterLayout {
  readonly slots: readonly TensorSlot[];
  readonly size: number;
  private readonly byName: ReadonlyMap<string, TensorSlot>;

  constructor(readonly config: TransformerConfig) {
    let offset = 0;
    const slots = weightSpecs(config).map((spec: WeightSpec): TensorSlot => {
      const size = spec.shape.reduce((product, dim) => product * dim, 1);
      const slot = { name: spec.name, shape: spec.shape, offset, size, decays: spec.shape.length === 2 };
      offset += size;
      return slot;
    });
    this.slots = slots;
    this.size = offset;
    this.byName = new Map(slots.map((slot) => [slot.name, slot]));
  }

  slot(name: string): TensorSlot {
    const slot = this.byName.get(name);
    if (!slot) throw new Error(`no parameter named ${name}`);
    return slot;
  }

  /** The tensor `name` inside a flat buffer of this layout (a view, no copy). */
  view(buffer: Float64Array, name: string): Float64Array {
    const slot = this.slot(name);
    return buffer.subarray(slot.offset, slot.offset + slot.size);
  }

  /** The reference model's seeded initialisation (weights.ts), widened to float64. */
  initialValues(seed: number, buffer: Float64Array = new Float64Array(this.size)): Float64Array {
    const store = WeightStore.fromSeed(this.config, seed);
    for (const slot of this.slots) buffer.set(store.tensor(slot.name, slot.shape), slot.offset);
    return buffer;
  }

  /** float32 tensors in the layout's order, ready for `serializeSafetensors`. */
  toFloat32Tensors(buffer: Float64Array): Array<{ name: string; shape: readonly number[]; values: Float32Array }> {
    return this.slots.map((slot) => ({
      name: slot.name,
      shape: slot.shape,
      values: Float32Array.from(buffer.subarray(slot.offset, slot.offset + slot.size)),
    }));
  }

  /** Reads tensors of a parsed safetensors file back into a flat buffer (names and shapes must match). */
  fromTensors(tensors: ReadonlyMap<string, SafetensorsTensor>, buffer: Float64Array = new Float64Array(this.size)): Float64Array {
    for (const slot of this.slots) {
      const tensor = tensors.get(slot.name);
      if (!tensor || tensor.values.length !== slot.size) throw new Error(`tensor ${slot.name} is missing or has the wrong size`);
      buffer.set(tensor.values, slot.offset);
    }
    return buffer;
  }
}

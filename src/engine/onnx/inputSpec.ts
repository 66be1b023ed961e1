/**
 * @file Explicit values for ONNX inputs, as users write them (CLI `--input NAME=VALUE`, setting
 * "attentionLens.onnx.inputs"). Kept free of heavy imports: the extension host parses settings with it.
 */
import { UserFacingError } from '../../shared/errors';

/** An explicit value for one input (CLI `--input NAME=VALUE`). */
export type InputSpec =
  | { kind: 'ids'; values: number[] }
  | { kind: 'npy'; path: string }
  | { kind: 'random'; shape: number[]; seed: number }
  /** A causal mask (each query sees itself and the keys before it), in the mask input's own convention. */
  | { kind: 'causal' };

/** Parses `ids:1,2,3`, `random:2x3x4`, `causal` or a path to a .npy file. */
export function parseInputSpec(text: string, seed = 0): InputSpec {
  if (text === 'causal') return { kind: 'causal' };
  if (text.startsWith('ids:')) {
    const parts = text.slice(4).split(',').map((part) => part.trim()).filter((part) => part.length > 0);
    const values = parts.map(Number);
    if (values.length === 0 || values.some((value) => !Number.isInteger(value))) {
      throw new UserFacingError(`"${text}" is not a list of integer ids.`, 'Write ids:1,2,3.', { code: 'invalid-option' });
    }
    // Ids travel as JavaScript numbers: past 2^53 one would silently become another.
    const inexact = parts.find((_, index) => !Number.isSafeInteger(values[index]));
    if (inexact !== undefined) {
      throw new UserFacingError(`The id ${inexact} is too large to be given exactly (the largest is ${Number.MAX_SAFE_INTEGER}).`, 'Give ids a model can have: from 0 to its vocabulary size − 1.', { code: 'invalid-option' });
    }
    return { kind: 'ids', values };
  }
  if (text.startsWith('random:')) {
    const shape = text.slice(7).split('x').map(Number);
    if (shape.length === 0 || shape.some((dim) => !Number.isInteger(dim) || dim < 1 || dim > 1 << 20)) {
      throw new UserFacingError(`"${text}" is not a shape.`, 'Write random:D1xD2x... with positive sizes, e.g. random:1x3x224x224.', { code: 'invalid-option' });
    }
    return { kind: 'random', shape, seed };
  }
  if (text.toLowerCase().endsWith('.npy')) return { kind: 'npy', path: text };
  throw new UserFacingError(`Cannot read the input value "${text}".`, 'Use ids:1,2,3, random:D1xD2x..., causal (for a mask input), or the path of a .npy file.', { code: 'invalid-option' });
}


/**
 * @file What a graph's constants say: the numbers of a constant value (an initializer or Constant
 * node, seen through Identity and Cast), and whether a value is static, that is computed from
 * constants alone, with no graph input and no shape of one behind it. Memoised per graph.
 */
import type { GraphStructure } from './graphStructure';
import { tensorDims, tensorValues } from './tensorValues';

/** A constant tensor read from the graph: dims and values as numbers. */
export interface ConstantValue {
  dims: number[];
  values: Float64Array;
}

const RANDOM_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

export class ConstantFolder {
  private readonly staticMemo = new Map<string, boolean>();
  private readonly constantMemo = new Map<string, ConstantValue | undefined>();

  constructor(private readonly structure: GraphStructure) {}

  /** Dims and numbers of a constant (through Identity/Cast of constants), when readable. */
  constant(value: string): ConstantValue | undefined {
    if (this.constantMemo.has(value)) {
      return this.constantMemo.get(value);
    }
    this.constantMemo.set(value, undefined); // cycle guard: Identity/Cast nodes that read each other
    let result: ConstantValue | undefined;
    const tensor = this.structure.constantTensor(value);
    if (tensor) {
      const values = tensorValues(tensor);
      result = values ? { dims: tensorDims(tensor), values } : undefined;
    } else {
      const node = this.structure.producer(value);
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

  /** Integers of a small constant (axes, perms). */
  constantInts(value: string): number[] | undefined {
    if (!value) {
      return undefined;
    }
    const constant = this.constant(value);
    return constant ? Array.from(constant.values, (number) => Math.trunc(number)) : undefined;
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
    if (this.structure.isConstant(value)) {
      result = true;
    } else if (this.structure.isGraphInput(value)) {
      result = false;
    } else {
      const node = this.structure.producer(value);
      result = node !== undefined && (node.input ?? []).length > 0 && !RANDOM_OPS.has(node.opType ?? '') && (node.input ?? []).every((input) => this.isStatic(input));
      if (node && (node.input ?? []).length === 0) {
        result = !RANDOM_OPS.has(node.opType ?? '');
      }
    }
    this.staticMemo.set(value, result);
    return result;
  }
}

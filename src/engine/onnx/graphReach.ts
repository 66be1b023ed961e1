/**
 * @file Reachability in a graph: what lies upstream of a value, which graph inputs it reads, whether
 * it depends on another value, and the nodes between two values.
 *
 * "Data" edges are those that carry tensor contents, as opposed to the shape plumbing exporters emit
 * around every Reshape (Shape → Gather → Unsqueeze → Concat), which must not count as a dependence
 * on the tokens when we ask where a mask or a stream comes from.
 */
import type { GraphStructure } from './graphStructure';
import type { NodeProto } from './model';

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

/** com.microsoft fused normalisations whose outputs are views of one stream position. */
const FUSED_NORMS = new Set(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization']);

export interface UpstreamOptions {
  /** Follow data edges only. */
  dataOnly: boolean;
  /** Values the walk does not go past (the start itself excepted). */
  stopAt?: ReadonlySet<string>;
}

/** What a walk upstream reached. */
export interface Upstream {
  nodes: Set<NodeProto>;
  inputs: Set<string>;
  constants: Set<string>;
}

/** Input slots of a node that carry tensor contents. */
function dataInputSlots(node: NodeProto): number[] {
  const slots = DATA_INPUTS[node.opType ?? ''];
  return slots ?? (node.input ?? []).map((_, index) => index);
}

/**
 * Everything upstream of `value`: the nodes, graph inputs and constants reached. `dataOnly`
 * follows only data edges (see DATA_INPUTS) and never passes through Shape/Size, so shape plumbing
 * does not count as reading an input's contents.
 */
export function upstream(structure: GraphStructure, value: string, options: UpstreamOptions): Upstream {
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
    if (structure.isGraphInput(current)) {
      inputs.add(current);
      continue;
    }
    if (structure.isConstant(current)) {
      constants.add(current);
      if (structure.producer(current)) {
        nodes.add(structure.producer(current) as NodeProto);
      }
      continue;
    }
    const node = structure.producer(current);
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
export function inputsRead(structure: GraphStructure, value: string): Set<string> {
  return upstream(structure, value, { dataOnly: true }).inputs;
}

/**
 * The values that stand for `value` when asking about dependence: itself, plus the sibling outputs
 * of a fused normalisation (SkipLayerNormalization's normalised output 0 and its sum output 3 are
 * the same stream position; EmbedLayerNormalization's output 0 is the norm of its sum output 2).
 */
export function aliases(structure: GraphStructure, value: string): Set<string> {
  const node = structure.producer(value);
  if (node && FUSED_NORMS.has(node.opType ?? '') && node.domain === 'com.microsoft') {
    return new Set((node.output ?? []).filter(Boolean));
  }
  return new Set([value]);
}

/** True when `ancestor` (or an alias of it) is upstream of `value` along data edges. */
export function dependsOn(structure: GraphStructure, value: string, ancestor: string): boolean {
  const targets = aliases(structure, ancestor);
  if (targets.has(value)) {
    return true;
  }
  const targetPosition = structure.valuePosition(ancestor);
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
    const node = structure.producer(current);
    // Producers sit after their inputs in `order`, so nothing before the ancestor can lead to it.
    if (!node || structure.position(node) <= targetPosition || SHAPE_ONLY.has(node.opType ?? '')) {
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
export function nodesBetween(structure: GraphStructure, from: string, to: string): NodeProto[] {
  const sources = aliases(structure, from);
  const ancestors = new Set<string>();
  const fromPosition = structure.valuePosition(from);
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
    const node = structure.producer(current);
    if (!node || structure.position(node) <= fromPosition || SHAPE_ONLY.has(node.opType ?? '')) {
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
    for (const use of structure.consumers(current)) {
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
  return [...between].sort((a, b) => structure.position(a) - structure.position(b));
}

/**
 * @file optimum's merged decoders (`decoder_model_merged.onnx`) hold two copies of the decoder behind
 * an If on the boolean input `use_cache_branch`: with past key/values (then) and without (else).
 * Attention Lens runs a whole input at once, with no past, so the If is replaced by its else branch:
 * the attention is then in the main graph, where it can be tapped, and the past and use_cache_branch
 * inputs, which nothing reads any more, are removed (ONNX Runtime wants every graph input fed).
 */
import { onnx } from 'onnx-proto';
import { makeNode, type ModelProto } from './model';

export const USE_CACHE_INPUT = 'use_cache_branch';

type Graph = onnx.IGraphProto;

/** Every name a node reads, its subgraphs' outer reads included. */
function readsOf(node: onnx.INodeProto, into: Set<string>): void {
  for (const input of node.input ?? []) if (input) into.add(input);
  for (const attribute of node.attribute ?? []) {
    for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) {
      for (const inner of sub?.node ?? []) readsOf(inner, into);
    }
  }
}

/** Renames values read or written by `node` (and read by its subgraphs), where `rename` says. */
export function renameNode(node: onnx.INodeProto, rename: (name: string) => string): onnx.INodeProto {
  const renameGraph = (graph: Graph): Graph => onnx.GraphProto.create({
    ...graph,
    // A subgraph's own inputs and initializers shadow outer names; exports give them unique names,
    // so renaming them with the rest keeps the subgraph consistent.
    node: (graph.node ?? []).map((inner) => renameNode(inner, rename)),
    input: (graph.input ?? []).map((info) => ({ ...info, name: rename(info.name ?? '') })),
    output: (graph.output ?? []).map((info) => ({ ...info, name: rename(info.name ?? '') })),
    initializer: (graph.initializer ?? []).map((tensor) => onnx.TensorProto.create({ ...tensor, name: rename(tensor.name ?? '') })),
    valueInfo: (graph.valueInfo ?? []).map((info) => ({ ...info, name: rename(info.name ?? '') })),
  });
  return onnx.NodeProto.create({
    ...node,
    input: (node.input ?? []).map((name) => (name ? rename(name) : name)),
    output: (node.output ?? []).map((name) => (name ? rename(name) : name)),
    attribute: (node.attribute ?? []).map((attribute) => (attribute.g || attribute.graphs?.length
      ? onnx.AttributeProto.create({
        ...attribute,
        ...(attribute.g ? { g: renameGraph(attribute.g) } : {}),
        ...(attribute.graphs?.length ? { graphs: attribute.graphs.map(renameGraph) } : {}),
      })
      : attribute)),
  });
}

/** Names produced inside a branch (its nodes' outputs and its initializers): those that must not clash with the main graph. */
function branchLocalNames(branch: Graph): Set<string> {
  const names = new Set<string>();
  for (const node of branch.node ?? []) for (const output of node.output ?? []) if (output) names.add(output);
  for (const tensor of branch.initializer ?? []) if (tensor.name) names.add(tensor.name);
  return names;
}

/**
 * The model with each If on `use_cache_branch` replaced by its else branch, and with the inputs no
 * node reads any more removed; `inlined` counts the If nodes replaced (0: the model is returned as is).
 */
export function inlineNoCacheBranch(model: ModelProto): { model: ModelProto; inlined: number } {
  const graph = model.graph;
  if (!graph || !(graph.input ?? []).some((input) => input.name === USE_CACHE_INPUT)) return { model, inlined: 0 };
  const nodes: onnx.INodeProto[] = [];
  const initializers = [...(graph.initializer ?? [])];
  let inlined = 0;
  for (const node of graph.node ?? []) {
    const branch = node.opType === 'If' && node.input?.[0] === USE_CACHE_INPUT
      ? node.attribute?.find((attribute) => attribute.name === 'else_branch')?.g
      : undefined;
    if (!branch) {
      nodes.push(node);
      continue;
    }
    inlined++;
    const local = branchLocalNames(branch);
    const prefix = `${node.name || `if${inlined}`}/else/`;
    const rename = (name: string): string => (local.has(name) ? `${prefix}${name}` : name);
    for (const inner of branch.node ?? []) nodes.push(renameNode(inner, rename));
    for (const tensor of branch.initializer ?? []) initializers.push(onnx.TensorProto.create({ ...tensor, name: rename(tensor.name ?? '') }));
    (branch.output ?? []).forEach((output, index) => {
      const target = node.output?.[index];
      if (target) nodes.push(makeNode('Identity', [rename(output.name ?? '')], [target], `${prefix}output_${index}`));
    });
  }
  if (inlined === 0) return { model, inlined };
  const read = new Set<string>();
  for (const node of nodes) readsOf(node, read);
  for (const output of graph.output ?? []) if (output.name) read.add(output.name);
  const edited = onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({
      ...graph,
      node: nodes,
      initializer: initializers,
      input: (graph.input ?? []).filter((input) => read.has(input.name ?? '')),
    }),
  });
  return { model: edited, inlined };
}

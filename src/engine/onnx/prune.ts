/**
 * @file A model cut down to what some outputs need: the nodes upstream of them, the weights and
 * inputs those nodes read. Used to compute the first layer's attention of a big model quickly,
 * before the whole forward pass has finished.
 */
import { onnx } from 'onnx-proto';

export function pruneToOutputs(model: onnx.ModelProto, outputs: readonly string[]): onnx.ModelProto {
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const producer = new Map<string, onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) if (output) producer.set(output, node);
  const needed = new Set<onnx.INodeProto>();
  const values = new Set<string>();
  const pending = [...outputs];
  while (pending.length > 0) {
    const value = pending.pop() as string;
    if (values.has(value)) continue;
    values.add(value);
    const node = producer.get(value);
    if (!node || needed.has(node)) continue;
    needed.add(node);
    for (const input of node.input ?? []) if (input) pending.push(input);
    // Subgraph attributes (If/Loop bodies) may read outer values by name.
    for (const attribute of node.attribute ?? []) {
      for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) {
        for (const inner of sub?.node ?? []) for (const input of inner.input ?? []) if (input) pending.push(input);
      }
    }
  }
  const outputInfo = new Map((graph.output ?? []).map((info) => [info.name ?? '', info]));
  const pruned = onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({
      ...graph,
      // Keep the file's node order: it is a valid topological order.
      node: (graph.node ?? []).filter((node) => needed.has(node)),
      initializer: (graph.initializer ?? []).filter((tensor) => values.has(tensor.name ?? '')),
      input: (graph.input ?? []).filter((input) => values.has(input.name ?? '')),
      output: outputs.map((name) => outputInfo.get(name) ?? { name }),
      valueInfo: (graph.valueInfo ?? []).filter((info) => values.has(info.name ?? '')),
    }),
  });
  return pruned;
}

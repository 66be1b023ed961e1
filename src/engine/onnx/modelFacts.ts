/**
 * @file Facts about a model that its graph shows without running it: the embedding table's rows
 * (the vocabulary a tokenizer must fit) and the width of the residual stream (d_model).
 */
import { inputRole, type ModelInput } from './inputs';
import type { ModelProto } from './model';

/** The embedding table the ids input indexes (Gather(table, ids)), as [rows, width], when it is a weight. */
function embeddingTable(model: ModelProto, inputs: readonly ModelInput[]): number[] | null {
  const ids = inputs.find((input) => inputRole(input.name, input.elementType) === 'ids');
  const graph = model.graph;
  if (!ids || !graph) return null;
  const names = new Set([ids.name]);
  for (const node of graph.node ?? []) {
    // Follow casts of the ids (int32 → int64) to the Gather that uses them.
    if (node.opType === 'Cast' && names.has(node.input?.[0] ?? '')) names.add(node.output?.[0] ?? '');
  }
  const initializerDims = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', (tensor.dims ?? []).map(Number)]));
  for (const node of graph.node ?? []) {
    if ((node.opType === 'Gather' || node.opType === 'EmbedLayerNormalization') && names.has(node.input?.[node.opType === 'Gather' ? 1 : 0] ?? '')) {
      const table = node.opType === 'Gather' ? node.input?.[0] : node.input?.[2];
      const dims = initializerDims.get(table ?? '');
      if (dims && dims.length === 2) return dims;
    }
  }
  return null;
}

/** Rows of the embedding table the ids input indexes, when it is a weight. */
export function embeddingRows(model: ModelProto, inputs: readonly ModelInput[]): number | null {
  return embeddingTable(model, inputs)?.[0] ?? null;
}

const NORMS = new Set(['LayerNormalization', 'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'RMSNormalization', 'EmbedLayerNormalization']);

/**
 * d_model as the graph shows it: the embedding table's width; else the length of the first layer
 * norm's scale (every Transformer normalises its residual stream); else the last fixed axis of a
 * float hidden-state input. Null when none of them is there.
 */
export function hiddenSize(model: ModelProto, inputs: readonly ModelInput[]): number | null {
  const table = embeddingTable(model, inputs);
  if (table) return table[1];
  const graph = model.graph;
  const initializerDims = new Map((graph?.initializer ?? []).map((tensor) => [tensor.name ?? '', (tensor.dims ?? []).map(Number)]));
  for (const node of graph?.node ?? []) {
    if (!NORMS.has(node.opType ?? '')) continue;
    // The scale is input 1, except for the fused norms that take a skip first (then 2) or ids (EmbedLayerNormalization: 5).
    const slot = node.opType === 'EmbedLayerNormalization' ? 5 : node.opType?.startsWith('Skip') ? 2 : 1;
    const dims = initializerDims.get(node.input?.[slot] ?? '');
    if (dims && dims.length === 1 && dims[0] > 1) return dims[0];
  }
  for (const input of inputs) {
    if (inputRole(input.name, input.elementType) !== null || input.dims.length !== 3) continue;
    const last = input.dims[2];
    if (typeof last === 'number' && last > 1) return last;
  }
  return null;
}

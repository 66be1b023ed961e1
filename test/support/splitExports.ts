/**
 * What optimum and transformers.js publish for seq2seq and older decoder-only models, made here from
 * the built-in one-file exports: `encoder_model.onnx` (input_ids, attention_mask → last_hidden_state),
 * `decoder_model.onnx` (input_ids, encoder_attention_mask, encoder_hidden_states → logits) and
 * `decoder_model_merged.onnx`, whose decoder sits twice behind an If on `use_cache_branch`, the
 * branch with past reading `past_key_values.*` inputs.
 *
 * The then-branch here is deliberately not the same computation (it doubles the encoder's states
 * before the cross-attention, or the embeddings of a decoder-only model), so a join that ran the wrong
 * branch would give attention that differs from the one-file export.
 */
import { onnx } from 'onnx-proto';
import { graphOf, makeNode, type ModelProto } from '../../src/engine/onnx/model';
import { pruneToOutputs } from '../../src/engine/onnx/prune';
import { renameNode } from '../../src/engine/onnx/cacheBranch';

function valueInfo(name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) } } },
  };
}

/** The value the decoder's cross-attention reads from the encoder (a built-in export names values by stack). */
function encoderOutputOf(model: ModelProto): string {
  const graph = graphOf(model);
  const produced = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  for (const node of graph.node ?? []) {
    if (!(node.output?.[0] ?? '').startsWith('decoder.')) continue;
    const input = (node.input ?? []).find((name) => name.startsWith('encoder.') && produced.has(name));
    if (input) return input;
  }
  throw new Error('no encoder output read by the decoder');
}

function renameNodes(model: ModelProto, rename: (name: string) => string, inputs: onnx.IValueInfoProto[]): ModelProto {
  const graph = graphOf(model);
  return onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({ ...graph, node: (graph.node ?? []).map((node) => renameNode(node, rename)), input: inputs }),
  });
}

/** A one-file encoder-decoder export split as optimum splits it. */
export function splitEncoderDecoder(model: ModelProto, dModel: number): { encoder: ModelProto; decoder: ModelProto } {
  const memory = encoderOutputOf(model);
  const graph = graphOf(model);
  const encoderOnly = pruneToOutputs(model, [memory]);
  const encoderGraph = graphOf(encoderOnly);
  const encoder = onnx.ModelProto.create({
    ...encoderOnly,
    graph: onnx.GraphProto.create({
      ...encoderGraph,
      node: [...(encoderGraph.node ?? []), makeNode('Identity', [memory], ['last_hidden_state'], 'output_identity')],
      output: [valueInfo('last_hidden_state', onnx.TensorProto.DataType.FLOAT, ['batch_size', 'encoder_sequence_length', dModel])],
    }),
  });
  // The decoder's own ids become input_ids, so the encoder's input_ids (read only by the encoder) go first.
  const names = new Map([[memory, 'encoder_hidden_states'], ['input_ids', 'encoder/input_ids'], ['decoder_input_ids', 'input_ids'], ['attention_mask', 'encoder_attention_mask']]);
  const original = new Map((graph.input ?? []).map((input) => [input.name ?? '', input]));
  const renamed = renameNodes(model, (name) => names.get(name) ?? name, [
    { ...original.get('decoder_input_ids'), name: 'input_ids' },
    { ...original.get('attention_mask'), name: 'encoder_attention_mask' },
    valueInfo('encoder_hidden_states', onnx.TensorProto.DataType.FLOAT, ['batch_size', 'encoder_sequence_length', dModel]),
  ]);
  // The encoder's last node would still produce the (renamed) states: the decoder must read them as an input.
  const cut = onnx.ModelProto.create({
    ...renamed,
    graph: onnx.GraphProto.create({ ...graphOf(renamed), node: (graphOf(renamed).node ?? []).filter((node) => !(node.output ?? []).includes('encoder_hidden_states')) }),
  });
  const decoder = pruneToOutputs(cut, (graph.output ?? []).map((output) => output.name ?? ''));
  return { encoder, decoder };
}

/**
 * The decoder behind an If on use_cache_branch: else = the decoder as given, then = a copy with
 * `doubled` (a value the decoder reads) multiplied by 2 and a past key input read.
 */
export function mergeDecoder(decoder: ModelProto, doubled: string, heads: number, headSize: number): ModelProto {
  const graph = graphOf(decoder);
  const outputs = graph.output ?? [];
  const local = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  // `doubled` is an input or weight of the decoder (outer scope for the branches).
  const thenName = (name: string): string => (name === doubled ? 'with_past/doubled' : local.has(name) ? `with_past/${name}` : name);
  const thenBranch = onnx.GraphProto.create({
    name: 'with_past',
    node: [
      makeNode('Add', [doubled, doubled], ['with_past/doubled'], 'with_past/double'),
      makeNode('Shape', ['past_key_values.0.decoder.key'], ['with_past/past_shape'], 'with_past/read_past'),
      ...(graph.node ?? []).map((node) => renameNode({ ...node, name: `with_past/${node.name ?? ''}` }, thenName)),
    ],
    output: outputs.map((output) => ({ ...output, name: thenName(output.name ?? '') })),
  });
  const elseBranch = onnx.GraphProto.create({ name: 'no_past', node: graph.node ?? [], output: outputs });
  const branch = (name: string, g: onnx.IGraphProto): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.GRAPH, g });
  const ifNode = onnx.NodeProto.create({
    opType: 'If', name: 'optimum::if', input: ['use_cache_branch'], output: outputs.map((output) => output.name ?? ''),
    attribute: [branch('then_branch', thenBranch), branch('else_branch', elseBranch)],
  });
  return onnx.ModelProto.create({
    ...decoder,
    graph: onnx.GraphProto.create({
      ...graph,
      node: [ifNode],
      input: [
        ...(graph.input ?? []),
        valueInfo('past_key_values.0.decoder.key', onnx.TensorProto.DataType.FLOAT, ['batch_size', heads, 'past_sequence_length', headSize]),
        valueInfo('use_cache_branch', onnx.TensorProto.DataType.BOOL, [1]),
      ],
      valueInfo: [],
    }),
  });
}

/**
 * @file An encoder-decoder export in two files (optimum and transformers.js write `encoder_model.onnx`
 * and `decoder_model.onnx` or `decoder_model_merged.onnx` for T5, BART, Marian...) joined into one
 * graph: the decoder's `encoder_hidden_states` become the encoder's output, its
 * `encoder_attention_mask` the encoder's `attention_mask`, its `input_ids` the graph's
 * `decoder_input_ids`. One run then computes both, the decoder's cross-attention reading what the
 * encoder produced, and the tapper finds encoder, decoder and cross blocks as in a one-file export.
 *
 * Every decoder name gets a prefix, so the two graphs' names (both have "/model/layers.0/...")
 * cannot clash; only the decoder's logits leave the joined graph.
 */
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../../shared/errors';
import { inlineNoCacheBranch, renameNode } from './cacheBranch';
import { inputRole } from './inputs';
import { graphOf, type ModelProto } from './model';
import { pruneToOutputs } from './prune';

const DECODER_PREFIX = 'decoder/';
/** Node names keep the decoder's own after this prefix (traceFromRun's moduleName reads them). */
export const DECODER_NODE_PREFIX = 'decoder_model::';
const ENCODER_OUTPUT_NAMES = ['last_hidden_state', 'encoder_hidden_states', 'hidden_states', 'encoder_outputs'];
const DECODER_MEMORY_NAMES = ['encoder_hidden_states', 'encoder_outputs', 'encoder_output'];
const DECODER_MEMORY_MASK_NAMES = ['encoder_attention_mask', 'encoder_mask'];

export interface JoinNames {
  encoderFile: string;
  decoderFile: string;
}

function elementType(info: onnx.IValueInfoProto): number {
  return info.type?.tensorType?.elemType ?? 0;
}

function refuse(message: string, action: string, code: string, facts: Record<string, string>): never {
  throw new UserFacingError(message, action, { code, facts });
}

/** The version of each opset domain; the two files must agree (ops change meaning between versions). */
function mergedOpsets(encoder: ModelProto, decoder: ModelProto, names: JoinNames): onnx.IOperatorSetIdProto[] {
  const versions = new Map<string, number>();
  for (const opset of encoder.opsetImport ?? []) versions.set(opset.domain ?? '', Number(opset.version ?? 0));
  for (const opset of decoder.opsetImport ?? []) {
    const domain = opset.domain ?? '';
    const version = Number(opset.version ?? 0);
    const known = versions.get(domain);
    if (known !== undefined && known !== version) {
      refuse(
        `${names.encoderFile} uses opset ${known} of ${domain || 'ai.onnx'} and ${names.decoderFile} opset ${version}: the two files are not one export.`,
        'Use an encoder and a decoder exported together (the same repository revision and dtype).',
        'join-opset-mismatch', { encoder: String(known), decoder: String(version), domain: domain || 'ai.onnx' },
      );
    }
    versions.set(domain, version);
  }
  return [...versions].map(([domain, version]) => ({ domain, version }));
}

/** The two files as one model whose inputs are input_ids, attention_mask (when the encoder has one) and decoder_input_ids, and whose output is the decoder's logits. */
export function joinEncoderDecoder(encoder: ModelProto, decoderFile: ModelProto, names: JoinNames): ModelProto {
  const decoder = inlineNoCacheBranch(decoderFile).model;
  const encoderGraph = graphOf(encoder);
  const decoderGraph = graphOf(decoder);
  const encoderInitializers = new Set((encoderGraph.initializer ?? []).map((tensor) => tensor.name ?? ''));
  const encoderInputs = (encoderGraph.input ?? []).filter((input) => !encoderInitializers.has(input.name ?? ''));
  const encoderIds = encoderInputs.find((input) => inputRole(input.name ?? '', elementType(input)) === 'ids');
  if (!encoderIds) {
    const inputs = encoderInputs.map((input) => input.name ?? '').join(', ');
    refuse(
      `The encoder ${names.encoderFile} reads ${inputs || 'no inputs'}, not token ids: it takes audio or image features (Whisper, vision encoders), which Attention Lens cannot make from text.`,
      'Choose a text encoder-decoder (T5, BART, Marian, mBART), or export the decoder alone and give its inputs as tensors.',
      'join-encoder-not-text', { inputs },
    );
  }
  const encoderMask = encoderInputs.find((input) => inputRole(input.name ?? '', elementType(input)) === 'mask');
  const encoderOutputs = encoderGraph.output ?? [];
  const encoderOutput = ENCODER_OUTPUT_NAMES.map((name) => encoderOutputs.find((output) => output.name === name)).find(Boolean) ?? encoderOutputs[0];
  const decoderInputs = decoderGraph.input ?? [];
  const memory = decoderInputs.find((input) => DECODER_MEMORY_NAMES.includes(input.name ?? ''));
  const decoderIds = decoderInputs.find((input) => inputRole(input.name ?? '', elementType(input)) === 'ids');
  const logits = (decoderGraph.output ?? []).find((output) => output.name === 'logits') ?? decoderGraph.output?.[0];
  if (!encoderOutput?.name || !memory || !decoderIds || !logits?.name) {
    refuse(
      `${names.encoderFile} and ${names.decoderFile} do not fit together as an encoder and its decoder: the decoder should read the encoder's output as encoder_hidden_states and its own input_ids.`,
      'Use the encoder_model.onnx and decoder_model.onnx of one optimum or transformers.js export.',
      'join-not-a-pair', { encoderOutputs: encoderOutputs.map((output) => output.name ?? '').join(','), decoderInputs: decoderInputs.map((input) => input.name ?? '').join(',') },
    );
  }

  // Decoder inputs that become the encoder's values or the joined graph's own inputs.
  const joined = new Map<string, string>([[memory.name ?? '', encoderOutput.name], [decoderIds.name ?? '', 'decoder_input_ids']]);
  const memoryMask = decoderInputs.find((input) => DECODER_MEMORY_MASK_NAMES.includes(input.name ?? ''));
  if (memoryMask && encoderMask?.name) joined.set(memoryMask.name ?? '', encoderMask.name);
  for (const input of decoderInputs) {
    if (inputRole(input.name ?? '', elementType(input)) === 'mask' && input !== memoryMask) joined.set(input.name ?? '', 'decoder_attention_mask');
  }
  const rename = (name: string): string => joined.get(name) ?? (name === logits.name ? name : `${DECODER_PREFIX}${name}`);
  const renamedInputs = decoderInputs
    .filter((input) => !(input === memory || (input === memoryMask && encoderMask)))
    .map((input) => ({ ...input, name: rename(input.name ?? '') }));

  const model = onnx.ModelProto.create({
    ...encoder,
    irVersion: Math.max(Number(encoder.irVersion ?? 0), Number(decoder.irVersion ?? 0)),
    opsetImport: mergedOpsets(encoder, decoder, names),
    metadataProps: [...(encoder.metadataProps ?? []), ...(decoder.metadataProps ?? [])
      .filter((prop) => !(encoder.metadataProps ?? []).some((existing) => existing.key === prop.key))],
    docString: `${names.encoderFile} and ${names.decoderFile}, joined by Attention Lens`,
    graph: onnx.GraphProto.create({
      name: `${encoderGraph.name ?? 'encoder'}+${decoderGraph.name ?? 'decoder'}`,
      node: [...(encoderGraph.node ?? []), ...(decoderGraph.node ?? []).map((node) => renameNode({ ...node, name: `${DECODER_NODE_PREFIX}${node.name ?? ''}` }, rename))],
      initializer: [...(encoderGraph.initializer ?? []), ...(decoderGraph.initializer ?? []).map((tensor) => onnx.TensorProto.create({ ...tensor, name: rename(tensor.name ?? '') }))],
      input: [...(encoderGraph.input ?? []), ...renamedInputs],
      output: [{ ...logits, name: logits.name }],
      valueInfo: [...(encoderGraph.valueInfo ?? []), ...(decoderGraph.valueInfo ?? []).map((info) => ({ ...info, name: rename(info.name ?? '') }))],
    }),
  });
  // Only what the logits need: the decoder's present key/values and the inputs nothing reads go.
  return pruneToOutputs(model, [logits.name]);
}

/**
 * Hub repositories of split exports, made from the built-in tiny-encdec and tiny-decoder exports (see
 * splitExports.ts): a transformers.js encoder-decoder (onnx/encoder_model.onnx + onnx/decoder_model.onnx),
 * an optimum one with a merged decoder whose weights are external data, an older decoder-only
 * repository that holds only onnx/decoder_model_merged.onnx, and a Whisper-like one whose encoder
 * reads audio features.
 */
import { onnx } from 'onnx-proto';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { externalizeInitializers } from '../../src/engine/onnx/externalData';
import { decodeModel, encodeModel, type ModelProto } from '../../src/engine/onnx/model';
import { PRESETS } from '../../src/engine/reference/config';
import { json, smallBertTokenizer, TOKENIZER_CONFIG } from './hubRepos';
import type { HubRepoSpec } from './hubServer';
import { mergeDecoder, splitEncoderDecoder } from './splitExports';

export const SEQ2SEQ_SEED = 7;

/** Real exports carry no Attention Lens metadata: the repository's own files describe the model. */
function plain(model: ModelProto): ModelProto {
  return onnx.ModelProto.create({ ...model, metadataProps: [], producerName: 'pytorch' });
}

export interface Seq2seqExports {
  /** The one-file export the split files were made from (the reference for the joined runs). */
  encdec: Uint8Array;
  decoderOnly: Uint8Array;
  repos: HubRepoSpec[];
}

export async function seq2seqRepos(): Promise<Seq2seqExports> {
  const encdecBytes = (await exportBuiltinModel({ model: 'builtin:tiny-encdec', seed: SEQ2SEQ_SEED })).model;
  const decoderBytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: SEQ2SEQ_SEED })).model;
  const config = PRESETS['tiny-encdec'];
  const split = splitEncoderDecoder(plain(decodeModel(encdecBytes)), config.dModel);
  // Encoded at once: externalizeInitializers rewrites the tensors that the split models share.
  const encoderBytes = encodeModel(split.encoder);
  const decoderFileBytes = encodeModel(split.decoder);
  const encoder = decodeModel(encoderBytes);
  const decoder = decodeModel(decoderFileBytes);
  const headSize = config.dModel / config.heads;
  const merged = externalizeInitializers(mergeDecoder(decodeModel(decoderFileBytes), 'encoder_hidden_states', config.heads, headSize) as onnx.ModelProto, 'decoder_model_merged.onnx_data');
  const decoderOnly = mergeDecoder(plain(decodeModel(decoderBytes)), 'embedding.weight', PRESETS['tiny-decoder'].heads, PRESETS['tiny-decoder'].dModel / PRESETS['tiny-decoder'].heads);
  const side = (modelConfig: object): HubRepoSpec['files'] => [
    { path: 'tokenizer.json', content: json(smallBertTokenizer()) },
    { path: 'tokenizer_config.json', content: json(TOKENIZER_CONFIG) },
    { path: 'config.json', content: json(modelConfig) },
  ];
  // Marian and T5 start the decoder with <pad> (id 0 here), not with the tokenizer's [CLS].
  const seq2seqConfig = { model_type: 'marian', is_encoder_decoder: true, decoder_start_token_id: 0, encoder_layers: 2, decoder_layers: 2, d_model: 64, encoder_attention_heads: 4 };
  const whisperEncoder = onnx.ModelProto.create({
    ...encoder,
    graph: onnx.GraphProto.create({
      ...encoder.graph,
      input: [{ name: 'input_features', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 80 }, { dimValue: 3000 }] } } } }],
    }),
  });
  return {
    encdec: encdecBytes,
    decoderOnly: decoderBytes,
    repos: [
      {
        repo: 'lens-test/encdec-split',
        files: [
          { path: 'onnx/encoder_model.onnx', content: encoderBytes, lfs: true },
          { path: 'onnx/decoder_model.onnx', content: decoderFileBytes, lfs: true },
          ...side(seq2seqConfig),
        ],
      },
      {
        repo: 'lens-test/encdec-merged',
        files: [
          { path: 'encoder_model.onnx', content: encoderBytes, lfs: true },
          { path: 'decoder_model_merged.onnx', content: encodeModel(merged.model), lfs: true },
          { path: 'decoder_model_merged.onnx_data', content: merged.data, lfs: true },
          ...side(seq2seqConfig),
        ],
      },
      {
        repo: 'lens-test/gpt-merged-only',
        files: [{ path: 'onnx/decoder_model_merged.onnx', content: encodeModel(decoderOnly), lfs: true }, ...side({ model_type: 'gpt2', n_layer: 3, n_head: 4, n_embd: 64 })],
      },
      {
        repo: 'lens-test/whisper-like',
        files: [
          { path: 'onnx/encoder_model.onnx', content: encodeModel(whisperEncoder), lfs: true },
          { path: 'onnx/decoder_model_merged.onnx', content: encodeModel(mergeDecoder(decoder, 'encoder_hidden_states', config.heads, headSize)), lfs: true },
          ...side({ model_type: 'whisper', is_encoder_decoder: true, decoder_start_token_id: 0 }),
        ],
      },
    ],
  };
}

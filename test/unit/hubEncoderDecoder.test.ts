/**
 * Split exports from the Hub, run as one model: an encoder_model.onnx and its decoder_model.onnx (or
 * decoder_model_merged.onnx, whose If is replaced by the branch without past) joined into one graph,
 * the decoder's cross-attention reading the encoder's output. Checked against the one-file export
 * they were split from (itself checked against the TypeScript reference in onnxParity.test.ts), fed
 * the same ids: every block's attention must agree.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import type { InputSpec } from '../../src/engine/onnx/inputSpec';
import { joinEncoderDecoder } from '../../src/engine/onnx/joinEncoderDecoder';
import { decodeModel } from '../../src/engine/onnx/model';
import { UserFacingError } from '../../src/shared/errors';
import type { AttentionTrace } from '../../src/shared/trace';
import { type HubServer, startHubServer } from '../support/hubServer';
import { testRepos } from '../support/hubRepos';
import { type Seq2seqExports, seq2seqRepos } from '../support/seq2seqRepos';
import { tempFolder } from '../support/tempFolders';

const TEXT = 'The cat sat on the mat.';
let server: HubServer;
let exports: Seq2seqExports;
const engine = new ExplainEngine(null);

before(async () => {
  exports = await seq2seqRepos();
  server = await startHubServer([...testRepos(), ...exports.repos]);
});
after(async () => {
  await server.close();
});

function hub(model: string, cacheDir: string, extra: { offline?: boolean; dtype?: 'fp32' | 'q8' } = {}): Promise<AttentionTrace> {
  return engine.explain(TEXT, { model, backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir, offline: extra.offline }, ...(extra.dtype ? { dtype: extra.dtype } : {}) });
}

/** The one-file export run on exactly the ids the joined run was fed. */
async function reference(bytes: Uint8Array, trace: AttentionTrace): Promise<AttentionTrace> {
  const file = path.join(tempFolder('al-seq2seq-'), 'model.onnx');
  writeFileSync(file, bytes);
  const ids = (name: string) => ({ kind: 'ids' as const, values: trace.streams.find((stream) => stream.name === name)!.tokens.map((token) => token.id) });
  const inputs: Record<string, InputSpec> = trace.model.kind === 'encoder-decoder'
    ? { input_ids: ids('encoder'), decoder_input_ids: ids('decoder') }
    : { input_ids: ids('decoder') };
  return engine.explain('', { model: file, backend: 'wasm', threads: 1, inputs });
}

function assertSameAttention(actual: AttentionTrace, expected: AttentionTrace): void {
  assert.deepEqual(actual.blocks.map((block) => `${block.kind} L${block.layer} ${block.heads}x${block.queries}x${block.keys}`),
    expected.blocks.map((block) => `${block.kind} L${block.layer} ${block.heads}x${block.queries}x${block.keys}`));
  actual.blocks.forEach((block, index) => {
    const want = expected.blocks[index].probs;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(block.probs[i] - want[i]));
    assert.ok(worst <= 1e-6, `block ${index} (${block.kind} L${block.layer}) differs by ${worst}`);
  });
}

describe('encoder-decoder repositories from the Hub', () => {
  it('encoder_model.onnx + decoder_model.onnx run as one model: encoder, decoder and cross-attention, the decoder starting with config.json\'s start token', async () => {
    const cache = tempFolder('al-hub-');
    const trace = await hub('hf:lens-test/encdec-split', cache);
    assert.equal(trace.model.kind, 'encoder-decoder');
    assert.equal(trace.model.encoderLayers, 2);
    assert.equal(trace.model.decoderLayers, 2);
    assert.deepEqual(trace.blocks.map((block) => `${block.kind}:${block.queryStream}->${block.keyStream}`).sort(), [
      'cross:decoder->encoder', 'cross:decoder->encoder', 'decoder-self:decoder->decoder', 'decoder-self:decoder->decoder', 'encoder-self:encoder->encoder', 'encoder-self:encoder->encoder',
    ]);
    const encoder = trace.streams.find((stream) => stream.name === 'encoder')!;
    const decoder = trace.streams.find((stream) => stream.name === 'decoder')!;
    assert.deepEqual(encoder.tokens.map((token) => token.piece), ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]']);
    // decoder_start_token_id 0 is [PAD]: the selection shifted right behind it.
    assert.deepEqual(decoder.tokens.map((token) => token.id), [0, ...encoder.tokens.map((token) => token.id)]);
    assert.equal(decoder.tokens[0].piece, '[PAD]');
    // The model's own names for its attention, read from the node names (the joined decoder's included).
    assert.deepEqual(trace.blocks.map((block) => block.source).sort(), [
      'decoder.layers.0.cross_attention', 'decoder.layers.0.self_attention', 'decoder.layers.1.cross_attention', 'decoder.layers.1.self_attention',
      'encoder.layers.0.self_attention', 'encoder.layers.1.self_attention',
    ]);
    assert.match(trace.model.weights ?? '', /^onnx\/encoder_model\.onnx \+ onnx\/decoder_model\.onnx \(fp32\), marian, commit /);
    assert.ok(trace.notices.some((notice) => notice.code === 'hub-model' && /joined into one graph/.test(notice.message)));
    assert.ok(!trace.notices.some((notice) => notice.code === 'hub-config-layers'), 'config.json\'s 2 encoder layers agree');
    assertSameAttention(trace, await reference(exports.encdec, trace));

    // Offline, the pair is found in the snapshot and gives the same trace.
    const offline = await hub('hf:lens-test/encdec-split', cache, { offline: true });
    assertSameAttention(offline, trace);
  });

  it('a merged decoder (If on use_cache_branch) with external data: the branch without past runs, the same attention', async () => {
    const trace = await hub('hf:lens-test/encdec-merged', tempFolder('al-hub-'));
    assert.match(trace.model.weights ?? '', /^encoder_model\.onnx \+ decoder_model_merged\.onnx/);
    assertSameAttention(trace, await reference(exports.encdec, trace));
  });

  it('an older decoder-only repository with only decoder_model_merged.onnx runs as a decoder', async () => {
    const trace = await hub('hf:lens-test/gpt-merged-only', tempFolder('al-hub-'));
    assert.equal(trace.model.kind, 'decoder');
    assert.equal(trace.blocks.length, 3);
    assert.ok(trace.notices.some((notice) => notice.code === 'cache-branch'), trace.notices.map((notice) => notice.code).join(','));
    assertSameAttention(trace, await reference(exports.decoderOnly, trace));
  });

  it('refuses with a message: an encoder that reads audio features, an encoder whose decoder is missing in that dtype', async () => {
    const whisper = await hub('hf:lens-test/whisper-like', tempFolder('al-hub-')).then(() => null, (error: unknown) => error);
    assert.ok(whisper instanceof UserFacingError, String(whisper));
    assert.equal(whisper.code, 'join-encoder-not-text');
    assert.match(whisper.message, /reads input_features/);
    const quantized = await hub('hf:lens-test/encdec-split', tempFolder('al-hub-'), { dtype: 'q8' }).then(() => null, (error: unknown) => error);
    assert.ok(quantized instanceof UserFacingError, String(quantized));
    assert.equal(quantized.code, 'hub-no-onnx');
  });

  it('a folder on disk in the same layout runs as the model: the optimum export with its merged decoder, and a cache snapshot of links', async () => {
    const folder = tempFolder('al-export-');
    const merged = exports.repos.find((repo) => repo.repo === 'lens-test/encdec-merged')!;
    for (const file of merged.files) {
      mkdirSync(path.dirname(path.join(folder, file.path)), { recursive: true });
      writeFileSync(path.join(folder, file.path), file.content);
    }
    const trace = await engine.explain(TEXT, { model: folder, backend: 'wasm', threads: 1 });
    assert.equal(trace.model.name, path.basename(folder));
    assert.equal(trace.model.kind, 'encoder-decoder');
    assert.equal(trace.model.tokenizer, 'tokenizer.json (the folder\'s)');
    assert.ok(trace.notices.some((notice) => notice.code === 'folder-model' && /encoder_model\.onnx \+ decoder_model_merged\.onnx \(joined into one graph\)/.test(notice.message)));
    assertSameAttention(trace, await reference(exports.encdec, trace));
    // A snapshot folder of the Hugging Face cache (files are links into blobs/) opens the same way.
    const cache = tempFolder('al-hub-');
    await hub('hf:lens-test/encdec-split', cache);
    const snapshots = path.join(cache, 'models--lens-test--encdec-split', 'snapshots');
    const snapshot = path.join(snapshots, readdirSync(snapshots)[0]);
    assertSameAttention(await engine.explain(TEXT, { model: snapshot, backend: 'wasm', threads: 1 }), trace);
    const empty = tempFolder('al-empty-');
    writeFileSync(path.join(empty, 'notes.txt'), 'no model here');
    await assert.rejects(engine.explain(TEXT, { model: empty }), (error: unknown) => error instanceof UserFacingError && error.code === 'folder-no-model' && /holds no ONNX model/.test(error.message));
  });

  it('joinEncoderDecoder: encoder and decoder of different opsets, or files that are not a pair, are refused', () => {
    const split = exports.repos.find((repo) => repo.repo === 'lens-test/encdec-split')!;
    const file = (name: string) => decodeModel(split.files.find((entry) => entry.path === name)!.content as Uint8Array);
    const encoder = file('onnx/encoder_model.onnx');
    const decoder = file('onnx/decoder_model.onnx');
    const names = { encoderFile: 'encoder_model.onnx', decoderFile: 'decoder_model.onnx' };
    assert.throws(() => joinEncoderDecoder(encoder, encoder, names), (error: UserFacingError) => error.code === 'join-not-a-pair');
    const older = decodeModel(split.files.find((entry) => entry.path === 'onnx/decoder_model.onnx')!.content as Uint8Array);
    older.opsetImport = [{ domain: '', version: 13 }];
    assert.throws(() => joinEncoderDecoder(encoder, older, names), (error: UserFacingError) => error.code === 'join-opset-mismatch' && /opset 17 of ai\.onnx and decoder_model\.onnx opset 13/.test(error.message));
    const joined = joinEncoderDecoder(encoder, decoder, names);
    assert.deepEqual(joined.graph?.input?.map((input) => input.name), ['input_ids', 'attention_mask', 'decoder_input_ids']);
    assert.deepEqual(joined.graph?.output?.map((output) => output.name), ['logits']);
  });
});

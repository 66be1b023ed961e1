/**
 * The engine's guards on files and sizes, one by one: atomic writes (atomicFile.ts), reads of
 * regular files only (safeRead.ts), external data counted once against the model ceiling, run
 * sizes estimated before the forward pass (traceEstimate.ts), the thread cap, the binary trace's
 * non-finite numbers, option references in each host's words, and the WebGPU survey's answer.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { cliWords } from '../../src/cli/words';
import { describeWriteError, removePartialFiles, writeFileAtomic } from '../../src/engine/atomicFile';
import { optionRef, UserFacingError } from '../../src/shared/errors';
import { effectiveThreads } from '../../src/engine/options';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { loadOnnxModel } from '../../src/engine/onnx/onnxModel';
import { parseSurvey } from '../../src/engine/onnx/webgpu';
import { decodeUtf8, readRegularFile } from '../../src/engine/safeRead';
import type { AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { checkTraceEstimate, checkWasmMemory, estimateTrace } from '../../src/engine/traceEstimate';
import { vscodeWords } from '../../src/vscode/words';
import { tempFolder } from '../support/tempFolders';

test('writeFileAtomic: the target appears whole or not at all; a failure names its cause and leaves no temporary file', async () => {
  const folder = tempFolder('al-atomic-');
  const target = path.join(folder, 'out.json');
  assert.equal(await writeFileAtomic(target, ['{"a":', '1}']), 7);
  assert.equal(readFileSync(target, 'utf8'), '{"a":1}');
  // A producer that fails half-way: the old file stays, nothing partial is left.
  await assert.rejects(writeFileAtomic(target, (function* pieces() {
    yield '{"b":';
    throw new Error('the producer failed');
  })()), /the producer failed/);
  assert.equal(readFileSync(target, 'utf8'), '{"a":1}');
  assert.deepEqual(readdirSync(folder), ['out.json']);
  // Cancelled between pieces.
  const controller = new AbortController();
  await assert.rejects(writeFileAtomic(path.join(folder, 'cancelled.json'), (function* pieces() {
    yield 'x';
    controller.abort();
    yield 'y';
  })(), { signal: controller.signal }), /cancelled/);
  assert.deepEqual(readdirSync(folder), ['out.json']);
  // removePartialFiles (what a second Ctrl+C runs) removes what is being written.
  let release: () => void = () => undefined;
  const writing = writeFileAtomic(path.join(folder, 'slow.json'), (async function* pieces() {
    yield 'first';
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    yield 'second';
  })());
  while (!readdirSync(folder).some((name) => name.endsWith('.partial'))) await new Promise((resolve) => setTimeout(resolve, 5));
  removePartialFiles();
  assert.deepEqual(readdirSync(folder), ['out.json']);
  release();
  await assert.rejects(writing);
  assert.deepEqual(readdirSync(folder), ['out.json']);
  // A folder as the target.
  await assert.rejects(writeFileAtomic(folder, 'x', { what: 'the trace' }), (error: unknown) => error instanceof UserFacingError && /it is a folder/.test(error.message));
});

test('write failures are worded by cause', () => {
  const error = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  assert.match(describeWriteError(error('ENOSPC'), '/d/t.json', 'the trace', 3 * 2 ** 20).message, /the disk is full \(no space left after 3\.0 MB\)\. Nothing was written\./);
  assert.match(describeWriteError(error('ENOENT'), '/no/such/t.json', 'the trace').message, /the folder \/no\/such does not exist/);
  assert.match(describeWriteError(error('EACCES'), '/root/t.json', 'the trace').message, /no permission to write in \/root/);
  assert.match(describeWriteError(error('EROFS'), '/ro/t.json', 'the trace').message, /read-only/);
});

test('readRegularFile reads regular files whole and refuses what is too big before reading it', async () => {
  const folder = tempFolder('al-read-');
  const file = path.join(folder, 'a.bin');
  writeFileSync(file, Buffer.alloc(2048, 7));
  assert.equal((await readRegularFile(file, { maxBytes: 4096, what: 'the file' })).byteLength, 2048);
  await assert.rejects(readRegularFile(file, { maxBytes: 1024, what: 'the weights file', limitOption: 'maxModelMB' }), (failure: unknown) =>
    failure instanceof UserFacingError && failure.code === 'file-too-big' && /Raise --max-model-mb/.test(cliWords(failure.hint)));
  await assert.rejects(readRegularFile(path.join(folder, 'missing'), { maxBytes: 1, what: 'the ONNX model', option: 'model' }), (failure: unknown) =>
    failure instanceof UserFacingError && failure.code === 'file-not-found' && /Check the path \(--model\)/.test(cliWords(failure.hint)));
  await assert.rejects(readRegularFile('/dev/null', { maxBytes: 1, what: 'the text file' }), (failure: unknown) => failure instanceof UserFacingError && failure.code === 'not-a-regular-file');
});

test('invalid UTF-8 is counted, not changed silently; a U+FFFD written in the text is not counted', () => {
  assert.deepEqual(decodeUtf8(Buffer.from('plain')), { text: 'plain', invalidSequences: 0 });
  const decoded = decodeUtf8(Buffer.from([0x61, 0xff, 0x62, 0xc3]));
  assert.equal(decoded.text, 'a\uFFFDb\uFFFD');
  assert.equal(decoded.invalidSequences, 2);
  assert.equal(decodeUtf8(Buffer.from('a\uFFFDb')).invalidSequences, 0);
});

test('external data is read once per file, however many names point to it, and counted once against the model ceiling', async () => {
  const folder = tempFolder('al-external-');
  const model = onnx.ModelProto.decode((await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 5 })).model);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  let index = 0;
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.rawData ?? new Uint8Array(0);
    if (raw.length < 1024) continue;
    // Three names for one file: as written, with ./, and through a link beside it.
    const location = ['weights.data', './weights.data', 'link.data'][index++ % 3];
    tensor.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }];
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    chunks.push(raw);
    offset += raw.length;
    tensor.rawData = new Uint8Array(0);
  }
  writeFileSync(path.join(folder, 'weights.data'), Buffer.concat(chunks));
  symlinkSync(path.join(folder, 'weights.data'), path.join(folder, 'link.data'));
  const file = path.join(folder, 'model.onnx');
  const modelBytes = onnx.ModelProto.encode(model).finish();
  writeFileSync(file, modelBytes);
  const total = modelBytes.byteLength + offset;
  // A ceiling the file and its data fit under once, but not three times.
  const ceilingMB = (total * 1.5) / 2 ** 20;
  const loaded = await loadOnnxModel({ path: file }, { backend: 'wasm', threads: 1, maxModelMB: ceilingMB });
  assert.equal(loaded.modelBytes, total);
  await loaded.session.release();
  await assert.rejects(loadOnnxModel({ path: file }, { backend: 'wasm', threads: 1, maxModelMB: (total * 0.9) / 2 ** 20 }), (failure: unknown) =>
    failure instanceof UserFacingError && failure.code === 'model-too-big' && /with its external data/.test(failure.message));
});

test('a run\'s size is estimated from shapes: unknown heads take the known ones\' count, and the limits name what to change', () => {
  const estimate = estimateTrace([{ heads: 12, queries: 1024, keys: 1024 }, { heads: null, queries: 1024, keys: 1024 }], false);
  assert.equal(estimate.bytes, 2 * 12 * 1024 * 1024 * 4);
  assert.equal(estimate.exact, false);
  assert.equal(estimate.largestBlockValues, 12 * 1024 * 1024);
  assert.equal(estimateTrace([{ heads: 2, queries: 3, keys: 5 }], true).bytes, 2 * 3 * 5 * 4 * 2);
  assert.doesNotThrow(() => checkTraceEstimate(estimate, 96, { tokens: 1024, includeScores: false }));
  assert.throws(() => checkTraceEstimate(estimate, 95, { tokens: 1024, includeScores: false }), (failure: unknown) =>
    failure instanceof UserFacingError && failure.code === 'trace-too-big' && /at least 96 MB/.test(failure.message) && /--max-tokens/.test(cliWords(failure.hint)));
  assert.throws(() => checkTraceEstimate(estimate, 1, { tokens: 1024, padTo: 1024, includeScores: false }), (failure: unknown) =>
    failure instanceof UserFacingError && /"attentionLens\.limits\.maxTraceMB"/.test(vscodeWords(failure.hint)) && /--pad-to/.test(cliWords(failure.hint)));
  assert.throws(() => checkWasmMemory(estimate, 3.9 * 2 ** 30, 1024), (failure: unknown) => failure instanceof UserFacingError && failure.code === 'wasm-memory');
  assert.doesNotThrow(() => checkWasmMemory(estimate, 2 ** 30, 1024));
});

test('threads beyond the cores run on the cores, with a notice that names the option', () => {
  assert.deepEqual(effectiveThreads(undefined, 4), { threads: 4, notice: null });
  assert.deepEqual(effectiveThreads(2, 4), { threads: 2, notice: null });
  const capped = effectiveThreads(256, 2);
  assert.equal(capped.threads, 2);
  assert.equal(cliWords(capped.notice ?? ''), '256 threads were asked for (--threads), but this machine has 2 cores: 2 ran.');
  assert.match(vscodeWords(capped.notice ?? ''), /the setting "attentionLens\.threads"/);
});

test('option references render in each host\'s words; unknown ones stay as written', () => {
  assert.equal(cliWords(`raise ${optionRef('maxTokens')}`), 'raise --max-tokens');
  assert.equal(vscodeWords(`raise ${optionRef('maxTokens')}`), 'raise the setting "attentionLens.maxTokens"');
  assert.equal(cliWords('{{option:nonsense}}'), '{{option:nonsense}}');
});

test('the binary trace keeps NaN and ±Infinity in its header (statistics of a broken model)', () => {
  const trace = {
    formatVersion: 1, createdAt: 'now', backend: 'reference', streams: [], blocks: [], residual: [], timings: [], truncation: [], notices: [],
    model: { name: 'm', kind: 'decoder', source: 'builtin', encoderLayers: 0, decoderLayers: 1, heads: 1, dModel: 2 },
    analysis: { headStats: [{ blockIndex: 0, layer: 0, kind: 'decoder-self', head: 0, entropy: Number.NaN, minEntropy: Number.POSITIVE_INFINITY, meanDistance: Number.NEGATIVE_INFINITY, prevToken: 0.5, sink: 0, diagonal: 0, induction: null }], rollout: [], diagnostics: [], thresholds: {} },
  } as unknown as AttentionTrace;
  const stats = decodeTrace(encodeTrace(trace)).analysis?.headStats[0];
  assert.ok(stats && Number.isNaN(stats.entropy));
  assert.equal(stats?.minEntropy, Number.POSITIVE_INFINITY);
  assert.equal(stats?.meanDistance, Number.NEGATIVE_INFINITY);
  assert.equal(stats?.induction, null);
  assert.equal(stats?.prevToken, 0.5);
});

test('the WebGPU survey\'s answer is read from its last line; anything else is no answer', () => {
  assert.deepEqual(parseSurvey('{"available":false,"reason":"no adapter"}\n'), { available: false, reason: 'no adapter' });
  assert.deepEqual(parseSurvey('noise\n{"available":true,"adapter":{"vendor":"nvidia","architecture":"ampere","description":"","software":false}}'), {
    available: true, adapter: { vendor: 'nvidia', architecture: 'ampere', description: '', software: false },
  });
  assert.equal(parseSurvey('Warning: vkCreateInstance: Found no drivers!'), null);
  assert.equal(parseSurvey('{"available":true}'), null);
});

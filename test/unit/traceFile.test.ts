/**
 * Trace files (src/engine/traceFile/, README "Trace files"): real traces written and read back
 * exactly (F32) and within half precision (--half), and the bytes checked by hand against the
 * safetensors layout. numpy's side: traceFilePython.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { lazyTrace, TRACE_FILE_SCHEMA, TraceFile, writeTraceFile } from '../../src/engine';
import type { AttentionTrace } from '../../src/shared/trace';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine(null);
const work = tempFolder('trace-file-');
const LONG_TEXT = 'The cat sat on the mat; the dog sat on the log. The cat sat on the mat again.';

async function roundTrip(trace: AttentionTrace, name: string, half = false): Promise<{ file: string; back: AttentionTrace }> {
  const file = path.join(work, `${name}${half ? '-half' : ''}.attn.safetensors`);
  await writeTraceFile(file, lazyTrace(trace), { half });
  const opened = await TraceFile.open(file);
  try {
    return { file, back: await opened.readTrace() };
  } finally {
    await opened.close();
  }
}

/** Half precision: 11 significant bits, subnormals in steps of 2^-24. */
function assertHalfClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = Math.abs(expected[i]) * 2 ** -11 + 2 ** -25;
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) assert.fail(`${what}[${i}]: ${actual[i]} against ${expected[i]}`);
  }
}

async function checkRoundTrips(trace: AttentionTrace, name: string): Promise<void> {
  const { back } = await roundTrip(trace, name);
  assert.deepEqual(back, trace, `${name}: F32 round trip`);
  const half = (await roundTrip(trace, name, true)).back;
  // Everything but the attention (and the mean of heads computed from it) is exact.
  const strip = (t: AttentionTrace): unknown => ({ ...t, blocks: t.blocks.map(({ probs: _p, meanProbs: _m, ...rest }) => rest) });
  assert.deepEqual(strip(half), strip(trace), `${name}: --half keeps all but the weights`);
  half.blocks.forEach((block, index) => {
    assertHalfClose(block.probs, trace.blocks[index].probs, `${name} block ${index}`);
    assert.ok(block.meanProbs, `${name}: the mean of heads is computed again`);
  });
}

test('tiny-encdec with padding and scores: F32 equal exactly, F16 within half precision', async () => {
  const trace = await engine.explain('The cat sat.', { model: 'builtin:tiny-encdec', padTo: 20, includeScores: true });
  assert.ok(trace.blocks.some((block) => block.maskKind === 'padding' || block.maskKind === 'causal+padding'), 'the padding mask is there to keep');
  assert.ok(trace.analysis && trace.analysis.headStats.some((stats) => stats.induction === null), 'some head has no induction rows (null kept)');
  await checkRoundTrips(trace, 'encdec');
});

test('tiny-modern: grouped KV heads and the sliding window survive', async () => {
  const trace = await engine.explain(LONG_TEXT, { model: 'builtin:tiny-modern' });
  assert.ok(trace.blocks.every((block) => block.kvHeads === 2 && block.slidingWindow === 32));
  await checkRoundTrips(trace, 'modern');
});

test('an ONNX model run on ONNX Runtime: its notices, taps and timings survive', async () => {
  const model = path.join(work, 'tiny-decoder.onnx');
  writeFileSync(model, (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 3 })).model);
  const trace = await engine.explain('Attention is all you need.', { model, backend: 'wasm', threads: 1 });
  assert.equal(trace.model.source, 'onnx');
  await checkRoundTrips(trace, 'onnx');
});

test('the bytes follow the safetensors layout (parsed here by hand)', async () => {
  const trace = await engine.explain('Layout check.', { model: 'builtin:tiny-encdec', includeScores: true });
  const { file } = await roundTrip(trace, 'layout', true);
  const bytes = readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + length) % 8, 0, 'the data starts at a multiple of 8');
  const headerText = bytes.subarray(8, 8 + length).toString('utf8');
  assert.equal(headerText[0], '{');
  assert.match(headerText, /\} *$/, 'padded with spaces only');
  const header = JSON.parse(headerText) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };
  const { __metadata__: metadata, ...tensors } = header;
  assert.equal(metadata.attention_lens_schema, String(TRACE_FILE_SCHEMA));
  assert.ok(Object.values(metadata).every((value) => typeof value === 'string'), 'metadata is string → string');
  const meta = JSON.parse(metadata.attention_lens);
  const sizes: Record<string, number> = { F64: 8, F32: 4, F16: 2, U8: 1 };
  const entries = Object.entries(tensors).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let position = 0;
  for (const [name, entry] of entries) {
    const [begin, end] = entry.data_offsets;
    assert.equal(begin, position, `${name} follows the previous tensor`);
    assert.equal(end - begin, entry.shape.reduce((a, b) => a * b, 1) * sizes[entry.dtype], `${name}: bytes = shape × dtype`);
    assert.equal(begin % sizes[entry.dtype], 0, `${name} is aligned`);
    position = end;
  }
  assert.equal(8 + length + position, bytes.length, 'the tensors cover the data exactly');
  trace.blocks.forEach((block, index) => {
    const entry = tensors[`attention.${index}`];
    assert.deepEqual([entry.dtype, entry.shape], ['F16', [block.heads, block.queries, block.keys]]);
    assert.equal(meta.blocks[index].tensors.attention, `attention.${index}`);
    assert.equal(meta.blocks[index].layer, block.layer);
    assert.equal(meta.blocks[index].kind, block.kind);
    assert.equal(tensors[`scores.${index}`].dtype, 'F32');
    if (block.mask) {
      const mask = tensors[`mask.${index}`];
      assert.deepEqual([mask.dtype, mask.shape], ['U8', [block.queries, block.keys]]);
      const stored = bytes.subarray(8 + length + mask.data_offsets[0], 8 + length + mask.data_offsets[1]);
      assert.deepEqual(new Uint8Array(stored), block.mask);
    }
    assert.deepEqual(tensors[`head_stats.${index}`].shape, [block.heads, 7]);
  });
  assert.deepEqual(meta.streams.map((stream: { name: string }) => stream.name), trace.streams.map((stream) => stream.name));
  assert.equal(meta.streams[0].tokens[0].end, trace.streams[0].tokens[0].end);
  assert.deepEqual(tensors['residual.0'].shape, [trace.residual[0].norms.length]);
});

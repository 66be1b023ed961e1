import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { TRACE_FORMAT_VERSION } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { traceJsonChunks, traceToJson } from '../../src/shared/traceJson';

const engine = new ExplainEngine();

test('binary trace round-trips exactly, with version and aligned zero-copy views', async () => {
  const trace = await engine.explain('round trip ✓', { model: 'builtin:tiny-encdec', includeScores: true });
  const bytes = encodeTrace(trace);
  assert.equal(new DataView(bytes.buffer).getUint32(4, true), TRACE_FORMAT_VERSION);
  const decoded = decodeTrace(bytes);
  assert.deepEqual(decoded, trace);
  assert.ok(decoded.blocks[0].probs instanceof Float32Array);
  assert.equal(decoded.blocks[0].probs.buffer, bytes.buffer, 'views share the buffer, no copy');
  // A buffer at an odd offset still decodes (copied once).
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(decodeTrace(shifted.subarray(1)), trace);
});

test('corrupt binary traces are refused', async () => {
  const bytes = encodeTrace(await engine.explain('abc'));
  assert.throws(() => decodeTrace(bytes.subarray(0, 8)), /too short/);
  const wrongMagic = bytes.slice();
  wrongMagic[0] = 0;
  assert.throws(() => decodeTrace(wrongMagic), /bad magic/);
  const wrongVersion = bytes.slice();
  new DataView(wrongVersion.buffer).setUint32(4, 999, true);
  assert.throws(() => decodeTrace(wrongVersion), /version 999/);
  assert.throws(() => decodeTrace(bytes.subarray(0, bytes.length - 16)), /truncated/);
});

test('JSON form follows the documented schema', async () => {
  const trace = await engine.explain('The cat', { model: 'builtin:tiny-encdec', decoderText: 'Le chat' });
  const json = JSON.parse(JSON.stringify(traceToJson(trace)));
  assert.equal(json.formatVersion, TRACE_FORMAT_VERSION);
  assert.equal(json.model.kind, 'encoder-decoder');
  assert.deepEqual(Object.keys(json.tokens).sort(), ['decoder', 'encoder']);
  assert.equal(json.tokens.encoder[0].text, 'T');
  assert.equal(json.tokens.encoder[0].start, 0);
  assert.equal(json.tokens.encoder[0].end, 1);
  for (const [index, block] of json.blocks.entries()) {
    const source = trace.blocks[index];
    assert.ok(['self', 'encoder-self', 'decoder-self', 'cross'].includes(block.kind));
    assert.equal(block.probs.length, block.heads * block.queries * block.keys);
    // Row-major [head][query][key], exact to float32.
    const h = block.heads - 1, q = block.queries - 1, k = 0;
    assert.equal(Math.fround(block.probs[(h * block.queries + q) * block.keys + k]), source.probs[(h * source.queries + q) * source.keys + k]);
    if (block.kind === 'decoder-self') assert.equal(block.mask.length, block.queries * block.keys);
    if (block.kind === 'encoder-self') assert.equal(block.mask, null);
  }
  assert.equal(json.residualNorms[0].label, 'encoder embedding + positions');
  assert.equal(json.residualNorms[0].norms.length, json.tokens.encoder.length);
});

test('the chunked JSON writer produces exactly the JSON of the whole trace', async () => {
  const trace = await engine.explain('chunks "blocks":[] inside text', { model: 'builtin:tiny-encdec', includeScores: true });
  assert.equal([...traceJsonChunks(trace)].join(''), JSON.stringify(traceToJson(trace)));
});

test('a blob table with bad offsets is refused, not read', async () => {
  const bytes = encodeTrace(await engine.explain('abc'));
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  const data = bytes.subarray(12 + headerLength);
  for (const bad of [-8, 2, 1.5]) {
    header.$blobs[0].offset = bad;
    // Re-frame the edited header with valid padding, so only the offset is wrong. Lengths are in
    // UTF-8 bytes: the header's messages hold characters such as ≥ and √.
    const json = new TextEncoder().encode(JSON.stringify(header));
    const headerBytes = new Uint8Array(json.length + ((8 - ((12 + json.length) % 8)) % 8)).fill(0x20);
    headerBytes.set(json);
    const edited = new Uint8Array(12 + headerBytes.length + data.length);
    edited.set(bytes.subarray(0, 8));
    new DataView(edited.buffer).setUint32(8, headerBytes.length, true);
    edited.set(headerBytes, 12);
    edited.set(data, 12 + headerBytes.length);
    assert.throws(() => decodeTrace(edited), /invalid offset or length/, `offset ${bad}`);
  }
});

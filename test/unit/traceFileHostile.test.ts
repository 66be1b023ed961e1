/**
 * Damaged and hostile trace files are refused with their own codes, and the reader never asks the
 * file for a byte past its end (every read is recorded); a good file is read lazily: opening reads
 * the header and the small tensors, one block's read reads that block.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, mock, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { lazyTrace, TraceFile, writeTraceFile } from '../../src/engine';
import { UserFacingError } from '../../src/shared/errors';
import { tempFolder } from '../support/tempFolders';

const work = tempFolder('trace-file-hostile-');
let good: Buffer;
let goodFile: string;

/** Every read of a file handle: where and how much, with the file's size at the time. */
const reads: Array<{ file: string; position: number; length: number }> = [];

before(async () => {
  const trace = await new ExplainEngine(null).explain('Hostile files.', { model: 'builtin:tiny-encdec', padTo: 16 });
  goodFile = path.join(work, 'good.attn.safetensors');
  await writeTraceFile(goodFile, lazyTrace(trace));
  good = readFileSync(goodFile);
  const handle = await open(goodFile);
  const prototype = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => Promise<unknown> };
  await handle.close();
  const original = prototype.read;
  mock.method(prototype, 'read', function (this: { fd: number }, buffer: Uint8Array, offset: number, length: number, position: number) {
    reads.push({ file: String(this.fd), position, length });
    return original.call(this, buffer, offset, length, position);
  });
});
after(() => mock.restoreAll());

function parts(bytes: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')), data: bytes.subarray(8 + length) };
}

function build(header: unknown, data: Uint8Array, declaredLength?: bigint): Buffer {
  const text = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(declaredLength ?? BigInt(text.length));
  return Buffer.concat([length, text, data]);
}

/** Opens `bytes` as a file; asserts the refusal's code and that no read went past the end. */
async function refused(name: string, bytes: Uint8Array, code: string, message?: RegExp): Promise<UserFacingError> {
  const file = path.join(work, `${name}.attn.safetensors`);
  writeFileSync(file, bytes);
  reads.length = 0;
  const error = await TraceFile.open(file).then(() => null, (caught: unknown) => caught);
  assert.ok(error instanceof UserFacingError, `${name}: ${String(error)}`);
  assert.equal(error.code, code, `${name}: ${error.message}`);
  if (message) assert.match(error.message, message, name);
  assert.ok(error.hint.length > 0);
  for (const read of reads) assert.ok(read.position + read.length <= bytes.byteLength, `${name}: read ${read.length} bytes at ${read.position} of ${bytes.byteLength}`);
  return error;
}

function withTensor(mutate: (tensors: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Buffer {
  const { header, data } = parts(good);
  mutate(header as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>);
  return build(header, data);
}

function withMetadata(mutate: (metadata: Record<string, string>) => void): Buffer {
  const { header, data } = parts(good);
  mutate(header.__metadata__ as Record<string, string>);
  return build(header, data);
}

test('truncated, a header longer than the file, a huge declared header length', async () => {
  await refused('truncated', good.subarray(0, good.length - 100), 'trace-file-truncated', /need \d+ bytes of data but the file has \d+/);
  assert.ok(reads.length > 0, 'the header was read, and every read recorded');
  const { header, data } = parts(good);
  await refused('header-too-long', build(header, data, BigInt(good.length)), 'trace-file-header-too-long', /header claims \d+ bytes but the file has only/);
  const started = Date.now();
  await refused('huge-header', build(header, data, 2n ** 62n), 'trace-file-header-too-long', /more than safetensors allows/);
  assert.ok(Date.now() - started < 1000, 'refused without allocating the claimed size');
  await refused('seven-bytes', good.subarray(0, 7), 'trace-file-not-safetensors', /only 7 bytes/);
});

test('overlapping, reversed and gapped offsets; a dtype or shape that does not fit its bytes', async () => {
  await refused('overlap', withTensor((t) => {
    t['attention.1'].data_offsets = [t['attention.0'].data_offsets[0] + 4, t['attention.0'].data_offsets[0] + 4 + (t['attention.1'].data_offsets[1] - t['attention.1'].data_offsets[0])];
  }), 'trace-file-bad-offsets', /overlap/);
  await refused('reversed', withTensor((t) => {
    t['attention.0'].data_offsets = [...t['attention.0'].data_offsets].reverse();
  }), 'trace-file-bad-offsets', /ends .* before it begins/);
  await refused('hole', withTensor((t) => {
    delete t['head_stats.0']; // the first tensor: its bytes stay, named by nothing
  }), 'trace-file-bad-offsets', /belong to no tensor/);
  const { header, data } = parts(good);
  await refused('trailing', build(header, Buffer.concat([data, Buffer.alloc(16)])), 'trace-file-bad-offsets', /16 bytes after the last tensor/);
  await refused('dtype', withTensor((t) => {
    t['attention.0'].dtype = 'F16';
  }), 'trace-file-bad-tensor', /needs/);
  await refused('unknown-dtype', withTensor((t) => {
    t['attention.0'].dtype = 'Q4';
  }), 'trace-file-bad-tensor', /unknown dtype/);
  await refused('shape', withTensor((t) => {
    // The same bytes as [1, queries·keys]: a valid safetensors entry, but not the block's [queries, keys].
    const mask = Object.keys(t).find((name) => name.startsWith('mask.'))!;
    t[mask].shape = [1, t[mask].shape[0] * t[mask].shape[1]];
}), 'trace-file-bad-tensor', /the metadata says/);
});

test('another schema, no schema, no Attention Lens metadata, broken metadata, not safetensors at all', async () => {
  const schema = await refused('schema-2', withMetadata((m) => {
    m.attention_lens_schema = '2';
  }), 'trace-file-schema', /schema 2, and this version of Attention Lens reads schema 1/);
  assert.deepEqual([schema.facts.schema, schema.facts.expected], ['2', 1]);
  await refused('no-schema', withMetadata((m) => {
    delete m.attention_lens_schema;
  }), 'trace-file-schema', /no schema version/);
  await refused('weights', readFileSync(path.join(__dirname, '../../media/models/lens-decoder.safetensors')), 'trace-file-not-a-trace', /without Attention Lens metadata/);
  await refused('meta-not-json', withMetadata((m) => {
    m.attention_lens = '{not json';
  }), 'trace-file-bad-metadata', /not JSON/);
  await refused('meta-missing-tensor', withMetadata((m) => {
    m.attention_lens = m.attention_lens.replace('"attention":"attention.1"', '"attention":"attention.99"');
  }), 'trace-file-bad-metadata', /attention\.99/);
  await refused('meta-bad-stream', withMetadata((m) => {
    m.attention_lens = m.attention_lens.replace('"queryStream":"decoder"', '"queryStream":"vision"');
  }), 'trace-file-bad-metadata', /stream "vision"/);
  await refused('json', Buffer.from('{"formatVersion":2,"blocks":[]}'), 'trace-file-not-safetensors', /begins with text .*a JSON trace/);
  await refused('random', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 'trace-file-header-too-long');
  const { data } = parts(good);
  await refused('array-header', build([1, 2], data), 'trace-file-not-safetensors', /not a UTF-8 JSON object/);
});

test('opening reads the header and small tensors; a block is read when asked, and a file cut short since is truncated', async () => {
  reads.length = 0;
  const file = await TraceFile.open(goodFile);
  try {
    const atOpen = reads.reduce((sum, read) => sum + read.length, 0);
    assert.ok(atOpen > 0, 'reads are recorded');
    const attention = file.blocks.reduce((sum, block) => sum + block.heads * block.queries * block.keys * 4, 0);
    assert.ok(atOpen < good.length - attention, `opening read ${atOpen} bytes; the attention alone is ${attention}`);
    reads.length = 0;
    const block = await file.readBlock(1);
    assert.equal(block.probs.length, file.blocks[1].heads * file.blocks[1].queries * file.blocks[1].keys);
    assert.ok(reads.reduce((sum, read) => sum + read.length, 0) <= block.probs.byteLength + block.queries * block.keys, 'one block read');
    // Masks come last in the file: the last block's is what a cut takes first.
    truncateSync(goodFile, good.length - 64);
    await assert.rejects(() => file.readBlock(file.blocks.length - 1), (error: unknown) => error instanceof UserFacingError && error.code === 'trace-file-truncated');
  } finally {
    await file.close();
    writeFileSync(goodFile, good);
  }
});

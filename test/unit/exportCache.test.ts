/**
 * The built-in models' ONNX exports kept on disk (src/engine/exportCache.ts): keyed by the weights'
 * content, so rewritten weights never bring old numbers back, across processes too; kept in a
 * private folder, checked by sha256, so a planted or damaged file is never run; bounded in size.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadBuiltinModel } from '../../src/engine/builtin';
import { BuiltinExportCache, defaultCacheFolder, makePrivateFolder } from '../../src/engine/exportCache';
import { ExplainEngine } from '../../src/engine/explain';
import { PRESETS } from '../../src/engine/reference/config';
import { serializeSafetensors } from '../../src/engine/reference/safetensors';
import { WeightStore, weightSpecs } from '../../src/engine/reference/weights';
import { tempFolder } from '../support/tempFolders';

const root = path.resolve(__dirname, '../..');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
const config = PRESETS['tiny-decoder'];

/** Seeded weights, optionally with one tensor poisoned by NaN, as a safetensors file. */
function saveWeights(file: string, seed: number, poison = false): void {
  const store = WeightStore.fromSeed(config, seed);
  writeFileSync(file, serializeSafetensors(weightSpecs(config).map((spec) => {
    const values = store.tensor(spec.name, spec.shape).slice();
    if (poison && spec.name === 'decoder.layers.0.self_attention.query.weight') values.fill(Number.NaN);
    return { name: spec.name, shape: spec.shape, values };
  })));
}

test('weights rewritten in place give the new numbers on ONNX Runtime, in one engine and in a new process (the CLI)', async () => {
  const folder = tempFolder('al-export-cache-');
  const cache = path.join(folder, 'cache');
  const weights = path.join(folder, 'w.safetensors');
  saveWeights(weights, 1);
  const engine = new ExplainEngine(cache);
  const options = { model: 'builtin:tiny-decoder', backend: 'wasm' as const, threads: 1, weightsPath: weights };
  const first = await engine.explain('the cat sat', options);
  saveWeights(weights, 2);
  const second = await engine.explain('the cat sat', options);
  const reference = await engine.explain('the cat sat', { ...options, backend: 'reference' });
  assert.notDeepEqual(second.blocks[0].probs, first.blocks[0].probs);
  for (let i = 0; i < reference.blocks[0].probs.length; i++) assert.ok(Math.abs(second.blocks[0].probs[i] - reference.blocks[0].probs[i]) < 1e-5);

  // A new process on the same cache folder, after the weights turned to NaN: the NaN shows.
  saveWeights(weights, 2, true);
  const cli = spawnSync(process.execPath, [path.join(root, 'dist/cli.js'), '--model', 'builtin:tiny-decoder', '--backend', 'wasm', '--weights', weights, '--json', '-', 'the cat sat'], {
    encoding: 'utf8', env: { ...process.env, ATTENTION_LENS_CACHE: cache },
  });
  assert.equal(cli.status, 0, cli.stderr);
  assert.ok(JSON.parse(cli.stdout).diagnostics.some((finding: { code: string }) => finding.code === 'non-finite'), 'the poisoned weights are what ran');
  // Three different weights: three exports in the cache, none under a name derived from the path.
  assert.equal(readdirSync(path.join(cache, 'exports')).filter((name) => name.endsWith('.onnx')).length, 3);
});

test('a file planted or damaged under an export\'s name is not run: its sha256 does not match, so the export is made again', async () => {
  const folder = tempFolder('al-export-plant-');
  const model = await loadBuiltinModel({ preset: 'tiny-decoder', seed: 3 });
  const made = await new BuiltinExportCache(folder).get('tiny-decoder', model);
  assert.equal(made.reused, false);
  const again = await new BuiltinExportCache(folder).get('tiny-decoder', model);
  assert.equal(again.reused, true, 'a second process reuses a checked export');
  assert.ok(sameBytes(again.bytes, made.bytes));
  const exportsFolder = path.join(folder, 'exports');
  const file = path.join(exportsFolder, readdirSync(exportsFolder).find((name) => name.endsWith('.onnx')) as string);
  // Another model's bytes under this name (what someone could copy there): refused, rebuilt.
  const other = await new BuiltinExportCache(null).get('tiny-decoder', await loadBuiltinModel({ preset: 'tiny-decoder', seed: 4 }));
  writeFileSync(file, other.bytes);
  const afterPlant = await new BuiltinExportCache(folder).get('tiny-decoder', model);
  assert.equal(afterPlant.reused, false);
  assert.ok(sameBytes(afterPlant.bytes, made.bytes));
  // A truncated file (a crash mid-write by an older version): the same.
  writeFileSync(file, made.bytes.subarray(0, 1000));
  const afterTruncation = await new BuiltinExportCache(folder).get('tiny-decoder', model);
  assert.equal(afterTruncation.reused, false);
  assert.ok(sameBytes(afterTruncation.bytes, made.bytes));
});

test('the cache folder is private: created 0700, loosened permissions tightened, another user\'s folder refused', () => {
  const folder = path.join(tempFolder('al-export-private-'), 'cache');
  assert.equal(makePrivateFolder(folder), null);
  assert.equal(statSync(folder).mode & 0o777, 0o700);
  chmodSync(folder, 0o777);
  assert.equal(makePrivateFolder(folder), null);
  assert.equal(statSync(folder).mode & 0o777, 0o700, 'group and others lose write permission');
  const file = path.join(folder, 'not-a-folder');
  writeFileSync(file, 'x');
  assert.match(makePrivateFolder(file) ?? '', /cannot be used|not a folder/);
  if (process.getuid?.() === 0) {
    const foreign = path.join(folder, 'foreign');
    mkdirSync(foreign);
    spawnSync('chown', ['65534', foreign]);
    assert.match(makePrivateFolder(foreign) ?? '', /belongs to another user/);
  }
});

test('the cache stays under its ceiling: the least recently used exports go first', async () => {
  const folder = tempFolder('al-export-bound-');
  // tiny-decoder's export is about 2.8 MB: a 6 MB ceiling holds two of them.
  const sizes: number[] = [];
  for (const seed of [10, 11, 12]) {
    const model = await loadBuiltinModel({ preset: 'tiny-decoder', seed });
    sizes.push((await new BuiltinExportCache(folder, 6).get('tiny-decoder', model)).bytes.byteLength);
    await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
  }
  assert.ok(sizes.every((size) => size > 2 * 2 ** 20 && size < 3 * 2 ** 20), `exports of ${sizes.join(', ')} bytes`);
  const left = readdirSync(path.join(folder, 'exports')).filter((name) => name.endsWith('.onnx'));
  assert.equal(left.length, 2, left.join(', '));
  const firstKey = BuiltinExportCache.keyOf('tiny-decoder', await loadBuiltinModel({ preset: 'tiny-decoder', seed: 10 })).slice(0, 32);
  assert.ok(!left.some((name) => name.includes(firstKey)), 'the oldest export was removed');
});

test('the default cache folder is per user and per platform; ATTENTION_LENS_CACHE moves it', () => {
  assert.equal(defaultCacheFolder({}, 'linux', '/home/ada'), '/home/ada/.cache/attention-lens');
  assert.equal(defaultCacheFolder({ XDG_CACHE_HOME: '/xdg' }, 'linux', '/home/ada'), '/xdg/attention-lens');
  assert.equal(defaultCacheFolder({}, 'darwin', '/Users/ada'), '/Users/ada/Library/Caches/attention-lens');
  assert.equal(defaultCacheFolder({ LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' }, 'win32', 'C:\\Users\\ada'), path.join('C:\\Users\\ada\\AppData\\Local', 'attention-lens', 'Cache'));
  assert.equal(defaultCacheFolder({ ATTENTION_LENS_CACHE: '/elsewhere' }, 'linux', '/home/ada'), '/elsewhere');
});

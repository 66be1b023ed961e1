/**
 * One .vsix per platform (`npm run package`, scripts/package.mjs): which native files each target
 * carries (scripts/platform-files.mjs, for all five targets), and one real package for this
 * machine's platform: only its own binaries, under the size limit, with the licence notices, and
 * an extension unpacked from it that finds and runs onnxruntime-node from its own folder.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import type { AttentionTrace } from '../../src/shared/trace';
import { zipEntryNames } from '../support/zip';

const root = path.resolve(__dirname, '../..');
const host = `${process.platform}-${process.arch}`;
const workDir = mkdtempSync(path.join(tmpdir(), 'al-platform-vsix-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

interface PlatformFiles {
  VSIX_TARGETS: string[];
  VSIX_SIZE_LIMIT: number;
  listFiles(folder: string): string[];
  onnxruntimeNodeFiles(target: string, files: string[]): { js: string[]; binaries: string[] };
  dawnPlatform(target: string): string;
  expectedNativeEntries(target: string, ortNodeFolder: string, webgpuFolder: string): string[];
  foreignNativeEntries(target: string, names: string[]): string[];
}
let files: PlatformFiles;
before(async () => {
  files = (await import(path.join(root, 'scripts/platform-files.mjs'))) as PlatformFiles;
});

const ortNode = path.join(root, 'node_modules/onnxruntime-node');
const webgpu = path.join(root, 'node_modules/webgpu');

describe('what each platform carries', () => {
  test('the five targets, each with its own binding and the library it links, nothing else', () => {
    assert.deepEqual(files.VSIX_TARGETS, ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64']);
    const all = files.listFiles(ortNode);
    const expected: Record<string, string[]> = {
      'linux-x64': ['libonnxruntime.so.1', 'onnxruntime_binding.node'],
      'linux-arm64': ['libonnxruntime.so.1', 'onnxruntime_binding.node'],
      // The binding links @rpath/libonnxruntime.1.dylib; the package's second 45 MB copy stays out.
      'darwin-arm64': ['libonnxruntime.1.dylib', 'onnxruntime_binding.node'],
      // DirectML.dll, dxcompiler.dll and dxil.dll (the DirectML and WebGPU providers) stay out.
      'win32-x64': ['onnxruntime.dll', 'onnxruntime_binding.node'],
      'win32-arm64': ['onnxruntime.dll', 'onnxruntime_binding.node'],
    };
    for (const target of files.VSIX_TARGETS) {
      const [os, arch] = target.split('-');
      const { js, binaries } = files.onnxruntimeNodeFiles(target, all);
      assert.deepEqual(binaries.map((file) => path.posix.basename(file)).sort(), expected[target], target);
      assert.ok(binaries.every((file) => file.startsWith(`bin/napi-v6/${os}/${arch}/`)), target);
      assert.deepEqual(js.sort(), ['dist/backend.js', 'dist/binding.js', 'dist/index.js', 'dist/version.js', 'package.json']);
      // Dawn: the package has a folder for each target.
      const entries = files.expectedNativeEntries(target, ortNode, webgpu);
      assert.ok(entries.some((entry) => entry === `extension/dist/webgpu/${files.dawnPlatform(target)}/dawn.node`), target);
      assert.deepEqual(files.foreignNativeEntries(target, entries), [], `${target}'s own files are not foreign`);
      for (const other of files.VSIX_TARGETS.filter((candidate) => candidate !== target)) {
        const foreign = files.foreignNativeEntries(target, files.expectedNativeEntries(other, ortNode, webgpu));
        assert.ok(foreign.length > 0, `${other}'s files are foreign in ${target}'s package`);
      }
    }
  });
});

/** The bytes of every entry of a zip file whose name starts with `prefix` (stored or deflated). */
function unzip(file: string, prefix: string, into: string): void {
  const bytes = readFileSync(file);
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end--;
  let offset = bytes.readUInt32LE(end + 16);
  for (let i = bytes.readUInt16LE(end + 10); i > 0; i--) {
    const nameLength = bytes.readUInt16LE(offset + 28);
    const name = bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8');
    if (name.startsWith(prefix) && !name.endsWith('/')) {
      const method = bytes.readUInt16LE(offset + 10);
      const size = bytes.readUInt32LE(offset + 20);
      const local = bytes.readUInt32LE(offset + 42);
      const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const raw = bytes.subarray(data, data + size);
      const target = path.join(into, name);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, method === 8 ? inflateRawSync(raw) : raw);
    }
    offset += 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
  }
}

test(`the ${host} .vsix: only its own native files, under 45 MB, with their licences, and the unpacked extension runs native`, async (context) => {
  if (!files.VSIX_TARGETS.includes(host)) {
    context.skip(`no .vsix is built for ${host}`);
    return;
  }
  // Package a copy, so the production rebuild vsce runs does not rewrite dist/ under other tests.
  const work = path.join(workDir, 'repo');
  const skip = new Set(['node_modules', 'dist', 'out', '.git', 'build', '.artifacts']);
  cpSync(root, work, { recursive: true, filter: (source) => !skip.has(path.basename(source)) || path.dirname(source) !== root });
  symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  execFileSync(process.execPath, ['scripts/package.mjs', '--targets', host, '--out-dir', workDir], { cwd: work, stdio: 'pipe', timeout: 240_000 });
  const vsix = path.join(workDir, `attention-lens-${host}.vsix`);
  const names = zipEntryNames(vsix);
  for (const entry of files.expectedNativeEntries(host, ortNode, webgpu)) assert.ok(names.includes(entry), `${entry} missing`);
  assert.deepEqual(files.foreignNativeEntries(host, names), []);
  assert.ok(names.includes('extension/dist/node_modules/onnxruntime-common/dist/cjs/index.js'), 'onnxruntime-node requires onnxruntime-common');
  assert.deepEqual(names.filter((name) => /\.(ts|map)$/.test(name) || /node_modules\/(adm-zip|global-agent)\//.test(name)), [], 'no sources, maps or install-time packages');
  const size = statSync(vsix).size;
  assert.ok(size < files.VSIX_SIZE_LIMIT, `${(size / 2 ** 20).toFixed(1)} MB`);
  assert.match(readFileSync(path.join(root, 'package.json'), 'utf8'), /"onnxruntime-node": "1\.30\.\d+"/);

  const unpacked = path.join(workDir, 'installed');
  unzip(vsix, 'extension/', unpacked);
  const notices = readFileSync(path.join(unpacked, 'extension/dist/THIRD_PARTY_NOTICES.txt'), 'utf8');
  assert.match(notices, /\nonnxruntime-node 1\.30\.\d+ \(MIT\)\nONNX Runtime native CPU build: [^\n]*dist\/node_modules\/onnxruntime-node\/bin\/napi-v6\/[a-z0-9]+\/[a-z0-9]+\/onnxruntime_binding\.node/);
  assert.match(notices, /onnxruntime-node's JavaScript API: dist\/node_modules\/onnxruntime-common\//);

  // The unpacked extension, outside the repository: its CLI finds onnxruntime-node in its own
  // dist/node_modules (nothing else is on the resolution path) and runs a model on it.
  const model = path.join(workDir, 'tiny.onnx');
  writeFileSync(model, (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 3 })).model);
  const json = path.join(workDir, 'trace.json');
  const run = spawnSync(process.execPath, [path.join(unpacked, 'extension/dist/cli.js'), '--model', model, '--backend', 'auto', '--threads', '1', '--json', json, 'The cat sat.'], {
    cwd: workDir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_PATH: '' },
  });
  assert.equal(run.status, 0, run.stderr);
  const trace = JSON.parse(readFileSync(json, 'utf8')) as AttentionTrace;
  assert.equal(trace.backend, 'native', trace.notices.map((notice) => notice.message).join(' | '));
});

/**
 * The command-line entry (dist/cli.js, what `npm start` runs) and the .vsix package.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { zipEntryNames } from '../support/zip';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');

/** Folders made by the tests below, removed when the file's tests end (the .vsix copy is 80 MB). */
const temporary: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}
after(() => {
  // rmSync does not follow the node_modules symlink of the .vsix copy into the real node_modules.
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the CLI prints a per-layer, per-head summary of the default model', () => {
  const { status, stdout, stderr } = runCli(['The cat sat on the mat.']);
  assert.equal(status, 0, stderr);
  // The default is the trained model, its weights found beside the bundle (dist/ → media/models/).
  assert.match(stdout, /^builtin:trained-decoder: decoder, 3 decoder layers x 4 heads, d_model=64, trained weights \(media\/models\/lens-decoder\.safetensors\); backend reference/);
  for (let layer = 0; layer < 3; layer++) assert.match(stdout, new RegExp(`layer ${layer} decoder-self \\[4 heads x 23 queries x 23 keys\\], mask: causal`));
  const headLines = stdout.split('\n').filter((line) => /^\s+head\s+\d+\s+strongest .+ -> .+\s+\d\.\d{3}\s+entropy \d+\.\d\d bits$/.test(line));
  assert.equal(headLines.length, 12, stdout);
  assert.match(stdout, /decoder L2 \+ feed-forward\s+\d+\.\d\d/);
});

test('the CLI writes the documented JSON trace', () => {
  const out = path.join(tempDir('al-cli-'), 'trace.json');
  const { status, stderr } = runCli(['--model', 'builtin:tiny-encdec', '--json', out, 'Hello']);
  assert.equal(status, 0, stderr);
  const json = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(json.model.name, 'builtin:tiny-encdec');
  assert.deepEqual(json.tokens.encoder.map((t: { text: string }) => t.text), ['H', 'e', 'l', 'l', 'o']);
  assert.equal(json.blocks.length, 6);
  const cross = json.blocks.find((b: { kind: string }) => b.kind === 'cross');
  assert.equal(cross.probs.length, cross.heads * 6 * 5);
  assert.ok(Array.isArray(json.residualNorms) && json.residualNorms.every((s: { label: string; norms: number[] }) => typeof s.label === 'string' && s.norms.length > 0));
});

test('the CLI explains bad input instead of crashing', () => {
  const empty = runCli(['   ']);
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /only whitespace/);
  assert.doesNotMatch(empty.stderr, /at .*\.js:\d+/, 'no stack trace for user errors');
  const badModel = runCli(['--model', 'builtin:huge', 'x']);
  assert.equal(badModel.status, 1);
  assert.match(badModel.stderr, /Unknown built-in model "huge"/);
  const badNumber = runCli(['--max-tokens', 'many', 'x']);
  assert.equal(badNumber.status, 2, 'a value no model could take is a usage error');
  assert.match(badNumber.stderr, /--max-tokens expects a whole number/);
  const unknownFlag = runCli(['--frobnicate', 'x']);
  assert.equal(unknownFlag.status, 2);
  assert.match(unknownFlag.stderr, /Usage: attention-lens/);
  const unwritable = runCli(['--json', '/nonexistent-dir/x/trace.json', 'abc']);
  assert.equal(unwritable.status, 1);
  assert.match(unwritable.stderr, /Cannot write the trace to \/nonexistent-dir\/x\/trace.json: the folder \/nonexistent-dir\/x does not exist/);
  assert.doesNotMatch(unwritable.stderr, /at .*\.js:\d+/);
  const help = runCli(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--model MODEL\s+builtin:<preset>, hf:ORG\/NAME\[@REVISION\] \(a Hugging Face Hub repository,\s+fetched into its cache\), the path of an \.onnx file, or a folder laid\s+out as an export/);
});

test('the CLI exports a built-in model to ONNX and explains text with the exported file', () => {
  const out = tempDir('al-cli-onnx-');
  const model = path.join(out, 'tiny.onnx');
  const exported = runCli(['--model', 'builtin:tiny-encdec', '--seed', '4', '--export-onnx', model]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stdout, /builtin:tiny-encdec exported to .*tiny\.onnx \(\d+\.\d MB, ONNX opset 17\)/);
  const json = path.join(out, 'trace.json');
  const run = runCli(['--model', model, '--backend', 'wasm', '--threads', '1', '--json', json, 'Hello']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^tiny\.onnx: encoder-decoder, 2 encoder \+ 2 decoder layers x 4 heads, d_model=64/);
  assert.match(run.stdout, /backend wasm/);
  const trace = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(trace.backend, 'wasm');
  assert.deepEqual(trace.blocks.map((b: { kind: string; layer: number }) => `${b.kind}${b.layer}`), ['encoder-self0', 'encoder-self1', 'decoder-self0', 'cross0', 'decoder-self1', 'cross1']);
});

test('the CLI runs a foreign ONNX fixture with explicit inputs', () => {
  const fixture = path.resolve(root, '../shared/fixtures/onnx/ort_bert_toy_op12.onnx');
  const run = runCli(['--model', fixture, '--input', 'input_ids=ids:5,6,7,8', '--backend', 'wasm', '--threads', '1']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /encoder tokens \(4, none \(tensor inputs\), custom\): \[5\] \[6\] \[7\] \[8\]/);
  assert.equal((run.stdout.match(/^layer \d encoder-self \[4 heads x 4 queries x 4 keys\]/gm) ?? []).length, 5);
  const missing = runCli(['--model', fixture, 'text without a tokenizer']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /No tokenizer for ort_bert_toy_op12\.onnx/);
  const badSpec = runCli(['--model', fixture, '--input', 'input_ids=words']);
  assert.equal(badSpec.status, 2, 'a value that is no input value at all is a usage error');
  assert.match(badSpec.stderr, /Cannot read the input value "words"/);
});

test('the CLI plants a bug on export, reports it, and writes the analysis to JSON and an HTML report', () => {
  const out = tempDir('al-cli-fault-');
  const model = path.join(out, 'leaky.onnx');
  const exported = runCli(['--model', 'builtin:tiny-decoder', '--export-onnx', model, '--fault', 'causal-off-by-one']);
  assert.equal(exported.status, 0, exported.stderr);
  const json = path.join(out, 'trace.json');
  const html = path.join(out, 'report.html');
  const run = runCli(['--model', model, '--backend', 'wasm', '--threads', '1', '--json', json, '--html', html, 'The cat sat on the mat.']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^diagnostics \(12\):$/m);
  assert.match(run.stdout, /error\s+mask-leak\s+Layer 0 decoder-self head 0: 22 cells above the diagonal carry weight/);
  const trace = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(trace.headStats.length, 12);
  assert.deepEqual(Object.keys(trace.headStats[0]).sort(), ['blockIndex', 'diagonal', 'entropy', 'head', 'induction', 'kind', 'layer', 'meanDistance', 'minEntropy', 'prevToken', 'sink']);
  assert.equal(trace.rollout[0].values.length, 23 * 23);
  assert.ok(trace.diagnostics.every((d: { code: string }) => d.code === 'mask-leak'));
  const report = readFileSync(html, 'utf8');
  assert.match(report, /^<!DOCTYPE html>/);
  assert.match(report, /id="attention-lens-trace">[A-Za-z0-9+/=]+<\/script>/);
  assert.doesNotMatch(report, /(src|href)=["']https?:/);
  const healthy = runCli(['The cat sat on the mat.']);
  assert.doesNotMatch(healthy.stdout, /\berror\b\s+mask-leak/);
  const badFault = runCli(['--export-onnx', path.join(out, 'x.onnx'), '--fault', 'bogus']);
  assert.equal(badFault.status, 2);
  assert.match(badFault.stderr, /Unknown fault: bogus/);
});

/** The bytes of one stored or deflated entry of a zip file (vsce writes both kinds). */
function zipEntry(file: string, name: string): Buffer {
  const bytes = readFileSync(file);
  let end = bytes.length - 22;
  while (end >= 0 && bytes.readUInt32LE(end) !== 0x06054b50) end--;
  let offset = bytes.readUInt32LE(end + 16);
  for (let i = bytes.readUInt16LE(end + 10); i > 0; i--) {
    const nameLength = bytes.readUInt16LE(offset + 28);
    if (bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8') === name) {
      const method = bytes.readUInt16LE(offset + 10);
      const size = bytes.readUInt32LE(offset + 20);
      const local = bytes.readUInt32LE(offset + 42);
      const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const raw = bytes.subarray(data, data + size);
      return method === 8 ? inflateRawSync(raw) : Buffer.from(raw);
    }
    offset += 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
  }
  throw new Error(`${name} is not in ${file}`);
}

test('the .vsix builds and holds the bundles, licences, icon and README images, not the sources or tests', () => {
  // Package a copy, so the production rebuild vsce runs does not rewrite dist/ under other tests.
  const work = tempDir('al-vsix-');
  const skip = new Set(['node_modules', 'dist', 'out', '.git', 'build', '.artifacts']);
  cpSync(root, work, { recursive: true, filter: (source) => !skip.has(path.basename(source)) || path.dirname(source) !== root });
  symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  // `npm run package`'s own script (it must not prompt), for this machine's platform only; every
  // platform's file selection is tested in platformPackages.test.ts.
  const manifest = JSON.parse(readFileSync(path.join(work, 'package.json'), 'utf8'));
  assert.equal(manifest.scripts.package, 'node scripts/package.mjs');
  const target = `${process.platform}-${process.arch}`;
  execFileSync(process.execPath, ['scripts/package.mjs', '--targets', target, '--out-dir', work], { cwd: work, stdio: 'pipe', timeout: 180_000 });
  const vsix = path.join(work, `attention-lens-${target}.vsix`);
  const names = zipEntryNames(vsix);
  for (const bundle of ['extension/dist/extension.js', 'extension/dist/engineWorker.js', 'extension/dist/webview.js', 'extension/dist/reportHost.js', 'extension/dist/cli.js', 'extension/dist/gpuSurvey.js', 'extension/dist/ort-wasm-simd-threaded.wasm', 'extension/dist/ort-wasm-simd-threaded.mjs', 'extension/dist/ort-wasm-simd-threaded.asyncify.wasm', 'extension/dist/ort-wasm-simd-threaded.asyncify.mjs', `extension/dist/webgpu/${process.platform}-${process.arch}/dawn.node`, 'extension/package.json', 'extension/media/panel.css', 'extension/media/models/lens-decoder.safetensors', 'extension/media/models/lens-decoder.json']) {
    assert.ok(names.includes(bundle), `${bundle} missing from the vsix: ${names.join(', ')}`);
  }
  const leaked = names.filter((name) => /^extension\/(src|test|webview|scripts|bench|node_modules)\//.test(name) || name.endsWith('.ts') || name.endsWith('.map'));
  assert.deepEqual(leaked, []);
  assert.ok(names.includes(`extension/${manifest.main.replace(/^\.\//, '')}`), 'package.json main is in the vsix');

  // Licences: every runtime dependency (all are bundled or copied into dist/) and the dependencies
  // whose code esbuild pulls in with them, each with its version, licence id and licence text.
  const notices = zipEntry(vsix, 'extension/dist/THIRD_PARTY_NOTICES.txt').toString('utf8');
  const bundled = [...Object.keys(manifest.dependencies), 'protobufjs', '@protobufjs/utf8', 'onnxruntime-common', '@kurkle/color'];
  for (const name of bundled) {
    const own = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'));
    const license = name === 'webgpu' ? 'BSD-3-Clause' : own.license; // Dawn's licence; the package.json says MIT
    const header = `\n${name} ${own.version} (${license})\n`;
    assert.ok(notices.includes(header), `THIRD_PARTY_NOTICES.txt lacks ${header.trim()}`);
    const section = notices.slice(notices.indexOf(header)).split(/\n={100}\n/)[1] ?? '';
    assert.ok(section.trim().length > 500, `${name}'s licence text is missing`);
  }
  assert.match(notices, /Dawn's Node bindings .*: dist\/webgpu\/[a-z0-9-]+\/dawn\.node/);
  assert.match(notices, /ONNX Runtime WebAssembly: dist\/ort-wasm-simd-threaded\.wasm/);

  // The icon: a PNG of the size make-icon.mjs renders, which vsce registered as the icon.
  assert.equal(manifest.icon, 'media/icon.png');
  const icon = zipEntry(vsix, `extension/${manifest.icon}`);
  assert.deepEqual([...icon.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.deepEqual([icon.readUInt32BE(16), icon.readUInt32BE(20)], [128, 128], 'IHDR width x height');
  assert.match(zipEntry(vsix, 'extension.vsixmanifest').toString('utf8'), /<Asset Type="Microsoft\.VisualStudio\.Services\.Icons\.Default" Path="extension\/media\/icon\.png"/);

  // README images stay relative links (the page resolves them in the installed extension) and ship.
  const readme = zipEntry(vsix, 'extension/readme.md').toString('utf8');
  const images = [...readFileSync(path.join(root, 'README.md'), 'utf8').matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  assert.ok(images.length >= 2, 'README shows pictures');
  for (const image of images) {
    assert.ok(names.includes(`extension/${image}`), `${image} missing from the vsix`);
    assert.ok(readme.includes(`](${image})`), `${image}'s link was rewritten`);
  }

  // No placeholder address: a repository is either real or absent.
  assert.doesNotMatch(readFileSync(path.join(root, 'package.json'), 'utf8'), /example\.invalid/);
});

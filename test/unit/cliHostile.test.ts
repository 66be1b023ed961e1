/**
 * Hostile and unlucky inputs against the command line (the engine is the same in VS Code): each
 * ends in a clear message and the right exit code, quickly, with no stack trace, no hang and no
 * partial file. File-system cases (FIFOs, devices, folders, a full disk, concurrent writers, a
 * closed stdout, Ctrl+C) run for real.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const fixtures = path.resolve(root, '../shared/fixtures/onnx');
const work = mkdtempSync(path.join(tmpdir(), 'al-hostile-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string; ms: number }

function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Run {
  const started = Date.now();
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: options.timeout ?? 60_000, cwd: options.cwd, env: options.env ?? process.env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started };
}

function assertClean(run: Run, status: number, message: RegExp, label: string): void {
  assert.equal(run.status, status, `${label}: exit ${run.status}\n${run.stderr}`);
  assert.match(run.stderr, message, label);
  assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, `${label}: no stack trace`);
  assert.doesNotMatch(run.stderr, /Internal error/, label);
}

/** A NumPy .npy file (format 1.0) with the given header dict text and data bytes. */
function npy(file: string, header: string, data: Buffer): string {
  let text = `${header}\n`;
  while ((10 + text.length) % 64 !== 0) text = ` ${text}`;
  const preamble = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length & 0xff, text.length >> 8]);
  writeFileSync(file, Buffer.concat([preamble, Buffer.from(text, 'latin1'), data]));
  return file;
}

function fifo(name: string): string {
  // In a folder of its own: a FIFO named tokenizer.json beside a test's model would be found there.
  const folder = mkdtempSync(path.join(work, 'fifo-'));
  const file = path.join(folder, name);
  execFileSync('mkfifo', [file]);
  return file;
}

const bert = path.join(fixtures, 'ort_bert_toy_op12.onnx');

test('FIFOs, devices and folders are refused at once, for every file the CLI reads', () => {
  const model = path.join(work, 'tiny.onnx');
  assert.equal(runCli(['--model', 'builtin:tiny-decoder', '--export-onnx', model]).status, 0);
  const cases: Array<[string, string[], RegExp]> = [
    ['--model FIFO', ['--model', fifo('model.onnx'), 'x'], /is a pipe \(FIFO\)/],
    ['--model /dev/zero', ['--model', '/dev/zero', 'x'], /\/dev\/zero is a device/],
    ['--model a folder not laid out as an export', ['--model', work, 'x'], /The folder al-hostile-\w+ holds tiny\.onnx, none of which[^]*Choose the \.onnx file itself, or a folder laid out as an export/],
    ['--file /dev/zero', ['--file', '/dev/zero'], /text file must be a regular file/],
    ['--file FIFO', ['--file', fifo('text.txt')], /is a pipe \(FIFO\)/],
    ['--weights /dev/zero', ['--weights', '/dev/zero', 'x'], /weights file must be a regular file/],
    ['--weights FIFO', ['--weights', fifo('w.safetensors'), 'x'], /is a pipe \(FIFO\)/],
    ['--tokenizer /dev/zero', ['--tokenizer', '/dev/zero', 'x'], /tokenizer.json must be a regular file/],
    ['--tokenizer FIFO', ['--tokenizer', fifo('tokenizer.json'), 'x'], /is a pipe \(FIFO\)/],
    ['npy linked to /dev/zero', ['--model', bert, '--input', `input_ids=${symlinkTo('/dev/zero', 'zero.npy')}`], /\.npy file for input "input_ids" must be a regular file/],
  ];
  for (const [label, args, message] of cases) {
    const run = runCli(args, { timeout: 20_000 });
    assertClean(run, 1, message, label);
    assert.ok(run.ms < 15_000, `${label}: took ${run.ms} ms`);
  }
});

function symlinkTo(target: string, name: string): string {
  const link = path.join(work, name);
  symlinkSync(target, link);
  return link;
}

test('external data that is a FIFO is refused, not waited on', () => {
  const folder = path.join(work, 'external');
  mkdirSync(folder);
  // Export a model, then point one initializer at external data named like a FIFO beside it.
  const model = path.join(folder, 'model.onnx');
  assert.equal(runCli(['--model', 'builtin:tiny-decoder', '--export-onnx', model]).status, 0);
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const proto = onnx.ModelProto.decode(readFileSync(model));
  const tensor = proto.graph?.initializer?.[0];
  assert.ok(tensor);
  tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  tensor.externalData = [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(tensor.rawData?.length ?? 0) }];
  tensor.rawData = new Uint8Array(0);
  writeFileSync(model, onnx.ModelProto.encode(proto).finish());
  execFileSync('mkfifo', [path.join(folder, 'weights.bin')]);
  const run = runCli(['--model', model, 'x'], { timeout: 20_000 });
  assertClean(run, 1, /external data file weights\.bin must be a regular file/, 'external data FIFO');
});

test('values no model could take are usage errors (exit 2); bad values for this model are bad input (exit 1)', () => {
  const usage: Array<[string[], RegExp]> = [
    [['--max-tokens', '0', 'x'], /--max-tokens expects a whole number from 1/],
    [['--threads', '0', 'x'], /--threads expects a whole number from 1/],
    [['--backend', 'bogus', 'x'], /Unknown backend "bogus"/],
    [['--fault', 'nan-weight', 'x'], /--fault plants a bug in an exported model: use it with --export-onnx/],
    [['--model', bert, '--input', 'nosuch=ids:1', '--input', 'input_ids=ids:1,2'], /This model has no input named "nosuch"; its inputs are input_ids/],
    [['--input', 'x=random:0x3', 'x'], /is not a shape/],
    [['--model', bert, '--input', 'input_ids=ids:9223372036854775807'], /The id 9223372036854775807 is too large to be given exactly/],
  ];
  for (const [args, message] of usage) assertClean(runCli(args), 2, message, args.join(' '));
  const bad: Array<[string[], RegExp]> = [
    [['--model', bert, '--input', 'input_ids=ids:1,-5'], /Token id -5 \(position 1 of "input_ids"\) is not a token of this model: ids run 0 to 98/],
    [['--model', bert, '--input', 'input_ids=random:1048576x1048576'], /would take 8.0 TB \(shape \[1048576, 1048576\]/],
    [['--model', bert, '--input', 'input_ids=random:30000x30000'], /would take 6\.7 GB/],
    [['--model', bert, '--input', `input_ids=${npy(path.join(work, 'negative-shape.npy'), "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", Buffer.alloc(16))}`], /shape \(-1, 4\) is not a list of sizes/],
    [['--model', bert, '--input', `input_ids=${npy(path.join(work, 'nan.npy'), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", Buffer.from(new Float32Array([1, Number.NaN]).buffer))}`], /"input_ids" is int64, but value 1 is NaN, not a whole number/],
  ];
  for (const [args, message] of bad) assertClean(runCli(args), 1, message, args.join(' '));
});

test('a tokenizer that yields no tokens is refused, on a built-in model and on an ONNX model', () => {
  // Its normalizer removes every character: every text becomes no tokens at all.
  const tokenizer = path.join(work, 'empty-tokenizer.json');
  writeFileSync(tokenizer, JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], post_processor: null, decoder: null, pre_tokenizer: null,
    normalizer: { type: 'Replace', pattern: { Regex: '[\\s\\S]' }, content: '' },
    model: { type: 'BPE', vocab: { a: 0, '[UNK]': 1 }, merges: [], unk_token: '[UNK]', dropout: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false },
  }));
  assertClean(runCli(['--tokenizer', tokenizer, 'hello']), 1, /turned the selection \(5 characters\) into no tokens/, 'built-in');
  const model = path.join(work, 'for-empty.onnx');
  assert.equal(runCli(['--model', 'builtin:tiny-encoder', '--export-onnx', model]).status, 0);
  assertClean(runCli(['--model', model, '--tokenizer', tokenizer, 'hello']), 1, /into no tokens/, 'ONNX');
});

test('a trace with NaN is written as JSON (null), to a file and to stdout, with its non-finite diagnostics, and as an HTML report', () => {
  const model = path.join(work, 'nan.onnx');
  assert.equal(runCli(['--model', 'builtin:tiny-decoder', '--fault', 'nan-weight', '--export-onnx', model]).status, 0);
  const json = path.join(work, 'nan.json');
  const html = path.join(work, 'nan.html');
  const run = runCli(['--model', model, '--json', json, '--html', html, 'The cat sat on the mat.']);
  assert.equal(run.status, 0, run.stderr);
  const trace = JSON.parse(readFileSync(json, 'utf8'));
  assert.ok(trace.diagnostics.some((finding: { code: string }) => finding.code === 'non-finite'));
  assert.ok(trace.headStats.some((stats: { entropy: number | null }) => stats.entropy === null), 'NaN statistics are null');
  assert.ok(readFileSync(html, 'utf8').startsWith('<!DOCTYPE html>'));
  const stdout = runCli(['--model', model, '--json', '-', 'The cat sat on the mat.']);
  assert.equal(stdout.status, 0, stdout.stderr);
  assert.ok(JSON.parse(stdout.stdout).blocks.length > 0);
});

test('concurrent writers to one --json path leave one whole, parseable file', async () => {
  const target = path.join(work, 'shared.json');
  const runs = await Promise.all(['one', 'two', 'three', 'four'].map((word) => new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [cli, '--model', 'builtin:tiny-decoder', '--json', target, `${word} ${'text '.repeat(40)}`], { stdio: 'ignore' });
    child.on('close', resolve);
  })));
  assert.deepEqual(runs, [0, 0, 0, 0]);
  const trace = JSON.parse(readFileSync(target, 'utf8'));
  assert.equal(trace.model.name, 'builtin:tiny-decoder');
  assert.deepEqual(readdirSync(work).filter((name) => name.includes('.partial')), []);
});

test('a closed stdout (| head -c 10) ends the JSON output quietly, exit 0', async () => {
  const child = spawn(process.execPath, [cli, '--json', '-', 'x'.repeat(300)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.once('data', () => child.stdout.destroy());
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 0, stderr);
  assert.equal(stderr, '');
});

/** Mounts a 64 KB tmpfs at `folder` (as root, else in a user namespace); false where neither works. */
function withFullDisk(folder: string, args: (target: string) => string[]): Run | null {
  mkdirSync(folder, { recursive: true });
  const script = `mount -t tmpfs -o size=64k tmpfs "${folder}" && "${process.execPath}" "${cli}" "$@"`;
  for (const launcher of [['sh', '-c'], ['unshare', '-r', '-m', 'sh', '-c']]) {
    const probe = spawnSync(launcher[0], [...launcher.slice(1), `mount -t tmpfs -o size=64k tmpfs "${folder}" && umount "${folder}"`], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const started = Date.now();
    const result = spawnSync(launcher[0], [...launcher.slice(1), `${script}; status=$?; echo "left: [$(ls -A "${folder}")]" >&2; umount "${folder}" 2>/dev/null; exit $status`, 'sh', ...args(path.join(folder, 'out'))], { encoding: 'utf8', timeout: 60_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started };
  }
  return null;
}

test('a full disk: --json, --html and --export-onnx exit 1 naming the cause, and leave nothing behind', (t) => {
  const cases: Array<[string, (target: string) => string[]]> = [
    ['--json', (target) => ['--json', `${target}.json`, 'x'.repeat(200)]],
    ['--html', (target) => ['--html', `${target}.html`, 'x'.repeat(200)]],
    ['--export-onnx', (target) => ['--model', 'builtin:tiny-decoder', '--export-onnx', `${target}.onnx`]],
  ];
  for (const [label, args] of cases) {
    const run = withFullDisk(path.join(work, `full-${label.slice(2)}`), args);
    if (!run) {
      t.skip('no tmpfs can be mounted here (neither as root nor in a user namespace)');
      return;
    }
    assert.equal(run.status, 1, `${label}: ${run.stderr}`);
    assert.match(run.stderr, /the disk is full \(no space left after [\d.]+ MB\)\. Nothing was written\./, label);
    // What the full disk holds before it is unmounted: nothing, no partial or truncated file.
    assert.match(run.stderr, /^left: \[\]$/m, `${label}: files left on the full disk`);
  }
});

test('Ctrl+C twice while a long JSON is written stops at once and leaves no partial file', async () => {
  const folder = mkdtempSync(path.join(work, 'interrupt-'));
  const target = path.join(folder, 'trace.json');
  const child = spawn(process.execPath, [cli, '--model', 'builtin:tiny-decoder', '--max-tokens', '1400', '--json', target, 'y'.repeat(1400)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Wait until the temporary file exists (the write has begun), then interrupt twice.
  const deadline = Date.now() + 60_000;
  while (!readdirSync(folder).some((name) => name.endsWith('.partial')) && Date.now() < deadline && child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(readdirSync(folder).some((name) => name.endsWith('.partial')), `the write never began: ${stderr}`);
  child.kill('SIGINT');
  child.kill('SIGINT');
  assert.equal(await closed, 130, stderr);
  assert.match(stderr, /Cancelled\./);
  assert.deepEqual(readdirSync(folder), [], 'neither the trace nor a partial file remains');
  assert.ok(!existsSync(target));
});

test('one Ctrl+C during a native forward pass ends the run as cancelled, never with a native abort', async () => {
  // Terminating the engine's thread inside onnxruntime-node's run aborts the process ("terminate
  // called after throwing an instance of 'Napi::Error'"): the CLI never does; past the grace it exits.
  const child = spawn(process.execPath, [cli, '--model', 'builtin:paper-base', '--backend', 'native', '--max-tokens', '1024', 'The cat sat on the mat. '.repeat(60)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 4000));
  child.kill('SIGINT');
  assert.equal(await closed, 130, stderr);
  assert.match(stderr, /cancel/i);
  assert.doesNotMatch(stderr, /terminate called|Napi|Aborted|Segmentation/);
});

test('--threads beyond the cores runs on the cores, with a notice; an invalid UTF-8 file is read with a notice', () => {
  const model = path.join(work, 'threads.onnx');
  assert.equal(runCli(['--model', 'builtin:tiny-decoder', '--export-onnx', model]).status, 0);
  const threads = runCli(['--model', model, '--threads', '256', 'abc']);
  assert.equal(threads.status, 0, threads.stderr);
  assert.match(threads.stdout, /note: 256 threads were asked for \(--threads\), but this machine has \d+ cores: \d+ ran\./);
  const latin1 = path.join(work, 'latin1.txt');
  writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
  const run = runCli(['--file', latin1]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /note: .*latin1\.txt is not valid UTF-8: 1 byte sequence\(s\) were read as U\+FFFD/);
});

test('a run whose attention cannot fit is refused before it starts, naming what to change', () => {
  const tokens = runCli(['--max-tokens', '8192', 'a'.repeat(9000)]);
  assertClean(tokens, 1, /would take 3072 MB \(3 blocks on 8192 tokens\), over the 2048 MB limit; nothing was run\.\nExplain fewer tokens \(--max-tokens\)/, 'max tokens');
  assert.ok(tokens.ms < 10_000, `refused after ${tokens.ms} ms`);
  const padded = runCli(['--model', 'builtin:tiny-encoder', '--pad-to', '8192', 'x']);
  assertClean(padded, 1, /Pad to fewer tokens \(--pad-to\)/, 'pad-to');
});

test('no WebGPU driver: an ONNX run prints nothing on stderr (Dawn\'s warnings stay in the survey process)', () => {
  const run = runCli(['--model', bert, '--input', 'input_ids=ids:1,2,3'], { env: { ...process.env, VK_ICD_FILENAMES: path.join(work, 'no-such-icd.json'), VK_DRIVER_FILES: path.join(work, 'no-such-icd.json') } });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  assert.match(run.stdout, /WebGPU was not used because/);
});

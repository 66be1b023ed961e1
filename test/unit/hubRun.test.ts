/**
 * Whole runs of Hub models against a real HTTP server on 127.0.0.1: the engine with an
 * `hf:ORG/NAME` spec (tokens from the repository's tokenizer.json, its name and revision in the
 * trace, external data, a tokenizer that does not fit), and the CLI's `--model hf:...` end to end.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { EngineClient } from '../../src/engine/worker/engineClient';
import { UserFacingError } from '../../src/shared/errors';
import { type HubServer, startHubServer } from '../support/hubServer';
import { testRepos } from '../support/hubRepos';
import { tempFolder } from '../support/tempFolders';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const TEXT = 'The cat sat on the mat.';
let server: HubServer;

before(async () => {
  server = await startHubServer(testRepos());
});
after(async () => {
  await server.close();
});

/** The CLI as a child process (asynchronously: the server answers from this process). */
function runCli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('running a Hub model', () => {
  it('the engine runs hf:ORG/NAME with the repository\'s tokenizer, and names the model with its revision', async () => {
    const cache = tempFolder('al-hubrun-');
    const engine = new ExplainEngine(null);
    const stages: string[] = [];
    const began = performance.now();
    const trace = await engine.explain(TEXT, { model: 'hf:lens-test/bert-toy', backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir: cache } }, undefined, undefined, (stage) => stages.push(stage));
    const firstMs = performance.now() - began;
    const tokens = trace.streams[0].tokens;
    assert.deepEqual(tokens.map((token) => token.piece), ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]']);
    assert.deepEqual(tokens.map((token) => token.id), [2, 5, 6, 7, 8, 5, 9, 10, 3]);
    assert.equal(tokens[2].text, 'cat');
    assert.equal(trace.model.name, 'lens-test/bert-toy@main');
    assert.match(trace.model.weights ?? '', /^onnx\/model\.onnx \(fp32\), bert, commit [0-9a-f]{40}$/);
    assert.equal(trace.model.tokenizer, 'tokenizer.json (the repository\'s)');
    assert.equal(trace.blocks.length, 5);
    assert.ok(trace.notices.some((notice) => notice.code === 'hub-model' && /downloaded \d+\.\d MB/.test(notice.message)));
    assert.ok(stages.some((stage) => stage.startsWith('Downloading onnx/model.onnx')), stages.join('|'));
    // Offline, from the cache: the same trace.
    const again = performance.now();
    const offline = await engine.explain(TEXT, { model: 'hf:lens-test/bert-toy', backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir: cache, offline: true } });
    const offlineMs = performance.now() - again;
    assert.deepEqual(offline.streams[0].tokens.map((token) => token.id), tokens.map((token) => token.id));
    assert.ok(offline.notices.some((notice) => notice.code === 'hub-model' && /offline/.test(notice.message)));
    console.log(`  first run (download + load + forward) ${firstMs.toFixed(0)} ms; offline run from the cache ${offlineMs.toFixed(0)} ms`);
  });

  it('through the engine worker: download figures arrive, and the time limit counts from the last of them', async () => {
    const cache = tempFolder('al-hubrun-');
    const client = new EngineClient(path.join(root, 'dist/engineWorker.js'), { timeLimitMs: 6000, cacheFolder: null });
    server.fault('lens-test/bert-toy', 'onnx/model.onnx', { throttle: 384 });
    const figures: number[] = [];
    try {
      const began = performance.now();
      const trace = await client.explain(TEXT, { model: 'hf:lens-test/bert-toy', backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir: cache } }, undefined, undefined, (_stage, download) => {
        if (download?.file === 'onnx/model.onnx') figures.push(download.bytes);
      });
      const ms = performance.now() - began;
      assert.ok(ms > 6000, `the download alone took ${ms.toFixed(0)} ms, more than the limit`);
      assert.equal(trace.model.name, 'lens-test/bert-toy@main');
      assert.ok(figures.length > 5 && figures.at(-1)! > 200_000, String(figures.length));
    } finally {
      server.fault('lens-test/bert-toy', 'onnx/model.onnx', undefined);
      await client.dispose();
    }
  });

  it('a model whose weights are in external data runs from the cache\'s linked snapshot', async () => {
    const cache = tempFolder('al-hubrun-');
    const engine = new ExplainEngine(null);
    const trace = await engine.explain(TEXT, { model: 'hf:lens-test/bert-external', backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir: cache } });
    assert.equal(trace.blocks.length, 5);
    assert.equal(trace.streams[0].tokens.length, 9);
  });

  it('a tokenizer whose ids do not fit the model: tokenizer-mismatch', async () => {
    const cache = tempFolder('al-hubrun-');
    const engine = new ExplainEngine(null);
    await assert.rejects(
      engine.explain(TEXT, { model: 'hf:lens-test/big-vocab', backend: 'wasm', threads: 1, hub: { endpoint: server.endpoint, cacheDir: cache } }),
      (error) => error instanceof UserFacingError && error.code === 'tokenizer-mismatch' && error.facts.tokenizerIds === 300 && error.facts.embeddingRows === 99,
    );
  });

  it('the CLI runs --model hf:... from HF_ENDPOINT into HF_HUB_CACHE, then --offline, and words the faults with its flags', async () => {
    const cache = tempFolder('al-hubcli-');
    const env = { HF_ENDPOINT: server.endpoint, HF_HUB_CACHE: cache };
    const run = await runCli(['--model', 'hf:lens-test/bert-toy', '--backend', 'wasm', '--threads', '1', '--json', '-', TEXT], env);
    assert.equal(run.status, 0, run.stderr);
    const trace = JSON.parse(run.stdout);
    assert.equal(trace.model.name, 'lens-test/bert-toy@main');
    assert.deepEqual(trace.tokens.encoder.map((token: { piece: string }) => token.piece), ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]']);
    const summary = await runCli(['--model', 'hf:lens-test/bert-toy', '--offline', '--dtype', 'fp32', '--backend', 'wasm', '--threads', '1', TEXT], { HF_HUB_CACHE: cache, HF_ENDPOINT: 'http://127.0.0.1:9' });
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(summary.stdout, /^lens-test\/bert-toy@main: encoder, 5 encoder layers x 4 heads/);
    assert.match(summary.stdout, /encoder tokens \(9, tokenizer\.json \(the repository's\)/);

    const gated = await runCli(['--model', 'hf:lens-test/gated', TEXT], env);
    assert.equal(gated.status, 1);
    assert.match(gated.stderr, /Set a Hugging Face access token \(the environment variable HF_TOKEN/);
    const missing = await runCli(['--model', 'hf:lens-test/bert-toy', '--dtype', 'q4', TEXT], env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /holds no q4 ONNX model .*\nPick another variant with --dtype/);
    const offline = await runCli(['--model', 'hf:lens-test/never-fetched', '--offline', TEXT], env);
    assert.equal(offline.status, 1);
    assert.match(offline.stderr, /Offline, and lens-test\/never-fetched \(revision main\) is not in the Hugging Face cache/);
    const usage = await runCli(['--model', 'hf:a/b/c', TEXT], env);
    assert.equal(usage.status, 2);
    const dtype = await runCli(['--model', 'hf:lens-test/bert-toy', '--dtype', 'int3', TEXT], env);
    assert.equal(dtype.status, 2);
    assert.match(dtype.stderr, /Unknown --dtype "int3"/);
  });
});

/**
 * The engine in its own process (EngineProcessClient), as the VS Code host uses it: traces, partial
 * traces, progress and errors cross the process boundary intact; a cancel stops a run; a process
 * killed under a run (what the kernel's OOM killer does) gives a message, and the next run works;
 * an idle process stops by itself. Runs the bundles dist/engineProcess.js and dist/engineWorker.js (npm test builds them first).
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { CancelledError, UserFacingError } from '../../src/shared/errors';
import { ExplainEngine } from '../../src/engine/explain';
import { EngineError } from '../../src/engine/worker/engineClient';
import { EngineProcessClient } from '../../src/engine/worker/engineProcessClient';

const root = path.resolve(__dirname, '../..');
const workerScript = path.join(root, 'dist/engineWorker.js');
assert.ok(existsSync(workerScript), 'dist/engineWorker.js is missing: run npm run build first');
const processScript = path.join(root, 'dist/engineProcess.js');
assert.ok(existsSync(processScript), 'dist/engineProcess.js is missing: run npm run build first');
const start = (options: { idleStopMs?: number; timeLimitMs?: number; cancelGraceMs?: number } = {}) => new EngineProcessClient(processScript, workerScript, { cacheFolder: null, ...options });
const clients: EngineProcessClient[] = [];
after(() => Promise.all(clients.map((client) => client.dispose())));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a trace computed in the engine process equals the one computed here, and the process is not this one', async () => {
  const client = start();
  clients.push(client);
  const stages: string[] = [];
  const trace = await client.explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec', seed: 3 }, undefined, undefined, (stage) => stages.push(stage));
  assert.ok(client.pid !== undefined && client.pid !== process.pid);
  assert.equal(trace.model.kind, 'encoder-decoder');
  assert.equal(trace.blocks.length, 6);
  assert.ok(trace.blocks[0].probs instanceof Float32Array);
  const here = await new ExplainEngine(null).explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec', seed: 3 });
  trace.blocks.forEach((block, index) => assert.deepEqual(block.probs, here.blocks[index].probs));
  assert.deepEqual(trace.residual.map((step) => step.label), here.residual.map((step) => step.label));
});

test('user errors keep their code and hint; a cancel ends the run as cancelled', async () => {
  const client = start();
  clients.push(client);
  await assert.rejects(client.explain('   '), (error: unknown) => error instanceof UserFacingError && /whitespace/.test(error.message) && error.hint.length > 0);
  await assert.rejects(client.explain('x', { model: 'builtin:no-such-model' }), (error: unknown) => error instanceof UserFacingError && error.code !== undefined);
  const controller = new AbortController();
  const run = client.explain('a long text '.repeat(200), { model: 'builtin:paper-base' }, controller.signal);
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(run, (error: unknown) => error instanceof CancelledError);
  // The process survived the cancel and runs the next request.
  const next = await client.explain('Still here.', { model: 'builtin:tiny-decoder' });
  assert.equal(next.blocks.length, 3);
});

test('a cancelled native run that does not stop within the grace ends the process, not with a crash: the run is cancelled and the one queued behind it runs in a fresh process', async () => {
  // Ending the engine's thread inside onnxruntime-node's native run aborts the process (measured:
  // "terminate called after throwing an instance of 'Napi::Error'", or SIGSEGV); the host ends the
  // process itself instead, and nothing queued is lost.
  const client = start({ cancelGraceMs: 200 });
  clients.push(client);
  const text = 'The cat sat on the mat. '.repeat(40);
  const options = { model: 'builtin:paper-base', backend: 'native', maxTokens: 1024 } as const;
  await client.explain('warm up', options);
  const firstPid = client.pid!;
  const controller = new AbortController();
  const cancelled = client.explain(text, options, controller.signal);
  const queued = client.explain('Still here.', { model: 'builtin:tiny-decoder' });
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(cancelled, (error: unknown) => error instanceof CancelledError);
  const next = await queued;
  assert.equal(next.blocks.length, 3);
  assert.ok(client.pid !== undefined && client.pid !== firstPid, 'a fresh process ran the queued request');
  assert.equal(isAlive(firstPid), false);
});

test('a process killed under a run gives a message that says so, and the next run starts a fresh one', async () => {
  const client = start();
  clients.push(client);
  const killUnderRun = async (signal: NodeJS.Signals): Promise<unknown> => {
    await client.explain('warm up', { model: 'builtin:tiny-decoder' });
    const pid = client.pid!;
    const run = client.explain('a long text '.repeat(200), { model: 'builtin:paper-base' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid, signal);
    return run.then(() => assert.fail('the run survived its process'), (error: unknown) => error);
  };
  // The kernel's OOM killer sends SIGKILL.
  const killed = await killUnderRun('SIGKILL');
  assert.ok(killed instanceof EngineError && !killed.internal, String(killed));
  assert.match(killed.message, /ran out of memory running builtin:paper-base: its process was stopped, the editor was not/);
  const first = client.pid;
  const again = await client.explain('Fresh engine.', { model: 'builtin:tiny-decoder' });
  assert.equal(again.blocks.length, 3);
  assert.notEqual(client.pid, first);
  const stopped = await killUnderRun('SIGTERM');
  assert.ok(stopped instanceof EngineError && stopped.internal, String(stopped));
  assert.match(stopped.message, /stopped unexpectedly while running builtin:paper-base \(signal SIGTERM\)\. Run it again/);
});

test('the time limit holds across the process boundary', async () => {
  const client = start({ timeLimitMs: 300 });
  clients.push(client);
  await assert.rejects(client.explain('a long text '.repeat(200), { model: 'builtin:paper-base' }), (error: unknown) => error instanceof UserFacingError && error.code === 'time-limit');
  assert.equal((await client.explain('quick', { model: 'builtin:tiny-decoder' })).blocks.length, 3);
});

test('an idle engine process stops by itself and comes back for the next run; dispose stops it', async () => {
  const client = start({ idleStopMs: 300 });
  clients.push(client);
  await client.explain('idle soon', { model: 'builtin:tiny-decoder' });
  const pid = client.pid!;
  assert.ok(isAlive(pid));
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(!isAlive(pid), 'the idle process stopped');
  assert.equal(client.pid, undefined);
  await client.explain('back again', { model: 'builtin:tiny-decoder' });
  const second = client.pid!;
  await client.dispose();
  assert.ok(!isAlive(second), 'dispose stopped the process');
  await assert.rejects(client.explain('after dispose'), /disposed/);
});

test('a trace over the inline budget stays out of this process: a temporary trace file, read block by block, removed on release', async () => {
  const client = start();
  clients.push(client);
  const options = { model: 'builtin:tiny-encdec', seed: 3, padTo: 24 } as const;
  const here = await new ExplainEngine(null).explain('The cat sat on the mat.', options);
  client.inlineTraceBytes = 0;
  const held = await client.explainHeld('The cat sat on the mat.', options);
  assert.equal(held.storage, 'file');
  const file = (held.trace as { file?: string }).file;
  assert.ok(file && existsSync(file), 'the trace file exists while the trace is held');
  assert.equal(path.basename(path.dirname(file)).startsWith('attention-lens-trace-'), true, 'in a private temporary folder of its own');
  assert.equal(held.trace.blocks.length, here.blocks.length);
  // The blocks outlive the engine process: a shown trace survives its idle stop or a crash.
  await client.dispose();
  for (let index = held.trace.blocks.length - 1; index >= 0; index--) {
    const block = await held.trace.readBlock(index);
    assert.deepEqual(block.probs, here.blocks[index].probs, `block ${index}`);
    assert.deepEqual(block.mask, here.blocks[index].mask, `block ${index}: mask`);
  }
  assert.deepEqual(held.trace.skeleton.streams, here.streams);
  assert.deepEqual(held.trace.skeleton.analysis?.diagnostics, here.analysis?.diagnostics);
  await held.release();
  assert.equal(existsSync(path.dirname(file)), false, 'release removes the folder');
  await held.release();

  // Under the budget the trace comes whole, as before; explain() reads a file-backed one whole and removes it.
  const small = start();
  clients.push(small);
  const inMemory = await small.explainHeld('The cat sat on the mat.', options);
  assert.equal(inMemory.storage, 'memory');
  small.inlineTraceBytes = 1;
  const whole = await small.explain('The cat sat on the mat.', options);
  whole.blocks.forEach((block, index) => assert.deepEqual(block.probs, here.blocks[index].probs));
});

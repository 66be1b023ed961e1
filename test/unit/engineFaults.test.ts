/**
 * The engine worker's faults, as the extension host and the CLI meet them: a worker that runs out
 * of memory or crashes fails its runs with a message and the next run starts a fresh worker; a run
 * over the time limit is stopped with a message that names the setting. Needs dist/engineWorker.js
 * (npm test builds it first).
 */
import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CancelledError, UserFacingError } from '../../src/shared/errors';
import { EngineClient, EngineError } from '../../src/engine/worker/engineClient';
import { vscodeWords } from '../../src/vscode/words';
import { cliWords } from '../../src/cli/words';
import { tempFolder } from '../support/tempFolders';

const workerScript = path.resolve(__dirname, '../../dist/engineWorker.js');
assert.ok(existsSync(workerScript), 'dist/engineWorker.js is missing: run npm run build first');

/** The smallest run, to show a fresh worker works. */
async function assertWorks(client: EngineClient, text = 'still alive'): Promise<void> {
  const trace = await client.explain(text, { model: 'builtin:tiny-decoder' });
  assert.equal(trace.streams[0].text, text);
}

const CRASH_TEXT = 'crash the engine thread';

/**
 * The real engine worker behind a one-line trigger: a request whose text is CRASH_TEXT ends the
 * thread (exit code 70) the moment it arrives, as a native crash or an abort would. Every other
 * request runs on the real worker, and the client's crash path is the production one.
 */
function crashingWorkerScript(): string {
  const file = path.join(tempFolder('al-faults-'), 'crashingWorker.js');
  writeFileSync(file, [
    "const { parentPort } = require('node:worker_threads');",
    `parentPort.on('message', (message) => { if (message.text === ${JSON.stringify(CRASH_TEXT)}) process.exit(70); });`,
    `require(${JSON.stringify(workerScript)});`,
  ].join('\n'));
  return file;
}

test('a worker over its heap limit: the run fails saying the engine ran out of memory, with the limit; the next run works', async () => {
  // 16 MB of JavaScript heap runs the tiny model, but not the tokenisation of a 1 MB selection.
  const client = new EngineClient(workerScript, { resourceLimits: { maxOldGenerationSizeMb: 16 } });
  try {
    await assertWorks(client, 'before');
    const started = Date.now();
    await assert.rejects(client.explain('x'.repeat(1_000_000), { model: 'builtin:tiny-decoder' }), (error: unknown) => {
      assert.ok(error instanceof EngineError, `an EngineError, got ${String(error)}`);
      assert.match(error.message, /ran out of memory running builtin:tiny-decoder/);
      assert.match(error.message, /heap limit of 16 MB/);
      assert.match(error.message, /Select less text or choose a smaller model/);
      assert.match(error.message, /next run starts a fresh engine/);
      assert.equal(error.internal, false);
      assert.ok(error.hint);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'the out-of-memory stop is quick');
    await assertWorks(client, 'after');
  } finally {
    await client.dispose();
  }
});

test('a crashed worker: its run and the runs queued behind it fail with a message (no hang); the next run works', async () => {
  const client = new EngineClient(crashingWorkerScript());
  try {
    await assertWorks(client, 'before');
    const crashed = client.explain(CRASH_TEXT, { model: 'builtin:tiny-decoder' });
    const queued = [client.explain('queued one'), client.explain('queued two', { model: 'builtin:tiny-encoder' })];
    await assert.rejects(crashed, (error: unknown) => {
      assert.ok(error instanceof EngineError, `an EngineError, got ${String(error)}`);
      assert.match(error.message, /stopped unexpectedly while running builtin:tiny-decoder \(the engine thread exited with code 70\)/);
      assert.match(error.message, /Run it again: the next run starts a fresh engine/);
      assert.equal(error.internal, true);
      return true;
    });
    for (const run of queued) {
      await assert.rejects(run, (error: unknown) => error instanceof EngineError
        && /stopped unexpectedly on an earlier run .*did not start/.test(error.message)
        && /next run starts a fresh engine/.test(error.message));
    }
    await assertWorks(client, 'after');
    // The fresh worker is a full one: several runs in a row.
    await assertWorks(client, 'after, again');
  } finally {
    await client.dispose();
  }
});

test('a run over the time limit is stopped with a message naming the setting; the runs after it work', async () => {
  const client = new EngineClient(workerScript, { timeLimitMs: 1000 });
  try {
    await assertWorks(client, 'before');
    const started = Date.now();
    // paper-base on 512 tokens in TypeScript takes far longer than a second and checks for cancels.
    const slow = client.explain('x'.repeat(512), { model: 'builtin:paper-base', backend: 'reference' });
    const queued = client.explain('queued behind the slow run', { model: 'builtin:tiny-decoder' });
    await assert.rejects(slow, (error: unknown) => {
      assert.ok(error instanceof UserFacingError, `a UserFacingError, got ${String(error)}`);
      assert.equal(error.code, 'time-limit');
      assert.equal(error.facts.limitSeconds, 1);
      assert.match(vscodeWords(error.message), /builtin:paper-base took longer than the time limit \(the setting "attentionLens\.runTimeLimitSeconds": 1 s\)/);
      assert.match(vscodeWords(error.hint), /raise the setting "attentionLens\.runTimeLimitSeconds"/);
      assert.match(cliWords(error.hint), /raise --time-limit/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms`);
    // The limit counts from when the engine starts a run, so the queued run gets its own second.
    assert.equal((await queued).streams[0].text, 'queued behind the slow run');
    await assertWorks(client, 'after');
  } finally {
    await client.dispose();
  }
});

test('a run stuck past the time limit (no cancel checks) is terminated: time-limit message, and the queued run moves to a fresh worker', async () => {
  // gpt2-shape's seeded weight init takes over a second without a cancel check: with a 50 ms grace
  // the worker is terminated, the way a stuck run is.
  const client = new EngineClient(workerScript, { timeLimitMs: 500, cancelGraceMs: 50 });
  try {
    const stuck = client.explain('a', { model: 'builtin:gpt2-shape', backend: 'reference' });
    const queued = client.explain('run B', { model: 'builtin:tiny-decoder' });
    await assert.rejects(stuck, (error: unknown) => error instanceof UserFacingError && error.code === 'time-limit');
    assert.equal((await queued).streams[0].text, 'run B');
    await assertWorks(client);
  } finally {
    await client.dispose();
  }
});

test('a user cancel under a time limit is still a cancel, and no limit means none', async () => {
  const limited = new EngineClient(workerScript, { timeLimitMs: 60_000 });
  const unlimited = new EngineClient(workerScript, { timeLimitMs: 0 });
  try {
    const controller = new AbortController();
    const running = limited.explain('x'.repeat(128), { model: 'builtin:paper-base', backend: 'reference' }, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(running, CancelledError);
    await assertWorks(limited);
    await assertWorks(unlimited);
  } finally {
    await Promise.all([limited.dispose(), unlimited.dispose()]);
  }
});

test('cancelling a queued run does not stop the run in front of it', async () => {
  // With a 50 ms grace, a grace timer started for the queued run would terminate the worker under
  // the running one; the queued run must end as cancelled, and the running one complete.
  const client = new EngineClient(workerScript, 50);
  try {
    const order: string[] = [];
    // tiny-decoder on 512 tokens takes several hundred ms, far past the grace.
    const first = client.explain('x'.repeat(512), { model: 'builtin:tiny-decoder' }).finally(() => order.push('first'));
    const controller = new AbortController();
    const second = client.explain('second', {}, controller.signal).finally(() => order.push('second'));
    controller.abort();
    await assert.rejects(second, CancelledError);
    assert.equal((await first).streams[0].tokens.length, 512);
    // The worker drops the cancelled run when it reaches it, after the first: not by being replaced.
    assert.deepEqual(order, ['first', 'second']);
  } finally {
    await client.dispose();
  }
});

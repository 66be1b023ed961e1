/**
 * The block server (src/shared/blockServer.ts), which every host that shows the panel answers its
 * requests with: the VS Code webviews, the HTML report and the bench. Its replies are checked
 * against the trace they come from (probabilities, mask, the mean of heads computed here
 * independently, the colour limits of computeColorLimits), against the panel's own validation, and
 * for being copies a host can post or transfer without carrying the rest of the trace along.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { answerBlockRequest, singleRun, traceLoadedMessage, type TraceOfRun } from '../../src/shared/blockServer';
import { computeColorLimits } from '../../src/shared/colorLimits';
import { parseToWebview, type RequestBlockMessage } from '../../src/shared/protocol';
import type { AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';

const root = path.resolve(__dirname, '../..');
const RUN_ID = 7;
const request = (blockIndex: number, runId = RUN_ID, requestId = 100 + blockIndex): RequestBlockMessage => ({ type: 'requestBlock', requestId, runId, blockIndex });

/** The mean over heads, cell by cell, summed in a double: independent of colorLimits.ts's chunked sums. */
function naiveMean(probs: Float32Array, heads: number, size: number): Float32Array {
  const mean = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let sum = 0;
    for (let head = 0; head < heads; head++) sum += probs[head * size + i];
    mean[i] = sum / heads;
  }
  return mean;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** What the VS Code host holds: the trace as the worker sent it, its arrays views into one buffer. */
let trace: AttentionTrace;

before(async () => {
  // Encoder self-attention (padding mask), causal decoder self-attention and cross-attention.
  const made = await new ExplainEngine().explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec', padTo: 32 });
  trace = decodeTrace(encodeTrace(made));
});

describe('block requests', () => {
  for (const delivery of ['posted', 'in-page'] as const) test(`each block: its probabilities and mask, and the mean of its heads (${delivery})`, () => {
    assert.ok(trace.blocks.some((block) => block.mask !== null) && trace.blocks.some((block) => block.kind === 'cross'), 'the trace has masked and cross blocks');
    trace.blocks.forEach((block, index) => {
      const answer = answerBlockRequest(singleRun(RUN_ID, trace), request(index), delivery);
      assert.equal(answer.kind, 'reply', `block ${index}`);
      if (answer.kind !== 'reply') return;
      const { message } = answer;
      assert.deepEqual([message.type, message.requestId, message.runId, message.blockIndex], ['blockData', 100 + index, RUN_ID, index]);
      assert.deepEqual(message.probs, block.probs, `block ${index}: probs`);
      assert.deepEqual(message.mask, block.mask, `block ${index}: mask`);
      assert.ok(message.mean, `block ${index}: the mean of heads is sent`);
      const size = block.queries * block.keys;
      assert.equal(message.mean.length, size);
      assert.ok(maxAbsDifference(message.mean, naiveMean(block.probs, block.heads, size)) <= 1e-7, `block ${index}: mean of heads`);
      assert.equal(parseToWebview(message), message, `block ${index}: the panel accepts the reply`);
    });
  });

  test('posted: the arrays are copies of their own, not views into the trace, and listed for transfer', () => {
    const traceBuffer = trace.blocks[0].probs.buffer;
    const answer = answerBlockRequest(singleRun(RUN_ID, trace), request(1), 'posted');
    assert.equal(answer.kind, 'reply');
    if (answer.kind !== 'reply') return;
    const { probs, mask, mean } = answer.message;
    const arrays = [probs, mask, mean].filter((array): array is Float32Array | Uint8Array => array !== null && array !== undefined);
    assert.equal(arrays.length, trace.blocks[1].mask ? 3 : 2);
    for (const array of arrays) {
      assert.notEqual(array.buffer, traceBuffer);
      // VS Code posts a view's whole backing buffer: each must be exactly its array's bytes.
      assert.equal(array.byteOffset, 0);
      assert.equal(array.buffer.byteLength, array.byteLength);
    }
    assert.deepEqual(answer.transfer, arrays.map((array) => array.buffer));
    assert.equal(new Set(answer.transfer).size, answer.transfer.length, 'no buffer listed twice (postMessage would throw)');
    const before = trace.blocks[1].probs[0];
    probs[0] = before + 1;
    assert.equal(trace.blocks[1].probs[0], before, 'writing to a reply changed the trace');
  });

  test('in page: the trace\'s own arrays, nothing copied and nothing to transfer', () => {
    const answer = answerBlockRequest(singleRun(RUN_ID, trace), request(1), 'in-page');
    assert.ok(answer.kind === 'reply');
    const block = trace.blocks[1];
    assert.equal(answer.message.probs, block.probs);
    assert.equal(answer.message.mask, block.mask);
    assert.equal(answer.message.mean, block.meanProbs);
    assert.deepEqual(answer.transfer, [], 'transferring would detach the buffer of the whole trace');
  });

  test('a block that does not exist gets no reply, and says so', () => {
    const blocks = trace.blocks.length;
    for (const delivery of ['posted', 'in-page'] as const) {
      assert.deepEqual(answerBlockRequest(singleRun(RUN_ID, trace), request(blocks), delivery), { kind: 'no-such-block', runId: RUN_ID, blockIndex: blocks, blocks });
      assert.equal(answerBlockRequest(singleRun(RUN_ID, trace), request(1e9), delivery).kind, 'no-such-block');
    }
  });

  test('a stale run gets no reply: the run asked about is not the one the host holds', () => {
    for (const delivery of ['posted', 'in-page'] as const) {
      assert.deepEqual(answerBlockRequest(singleRun(RUN_ID, trace), request(0, RUN_ID + 1), delivery), { kind: 'stale-run', runId: RUN_ID + 1 });
      assert.deepEqual(answerBlockRequest(singleRun(RUN_ID, trace), request(0, RUN_ID - 1), delivery), { kind: 'stale-run', runId: RUN_ID - 1 });
    }
    // As in VS Code: a request for run 1 is answered until run 2 replaces it, then not.
    let current = { runId: 1, trace };
    const traceOf: TraceOfRun = (runId) => (runId === current.runId ? current.trace : undefined);
    assert.equal(answerBlockRequest(traceOf, request(0, 1), 'posted').kind, 'reply');
    current = { runId: 2, trace };
    assert.equal(answerBlockRequest(traceOf, request(0, 1), 'posted').kind, 'stale-run');
    const answer = answerBlockRequest(traceOf, request(0, 2), 'posted');
    assert.ok(answer.kind === 'reply' && answer.message.runId === 2);
  });

  test('a trace without the mean of heads (a partial one, shown during the run): mean null, the panel averages', () => {
    const partial: AttentionTrace = { ...trace, blocks: trace.blocks.map(({ meanProbs: _meanProbs, ...block }) => block) };
    const answer = answerBlockRequest(singleRun(RUN_ID, partial), request(0), 'posted');
    assert.ok(answer.kind === 'reply');
    assert.equal(answer.message.mean, null);
    assert.deepEqual(answer.message.probs, trace.blocks[0].probs);
    assert.equal(answer.transfer.length, 1 + (trace.blocks[0].mask ? 1 : 0));
    assert.ok(parseToWebview(answer.message));
  });
});

describe('the trace for the panel to lay out', () => {
  test('no attention arrays, the colour limits of computeColorLimits, and the panel accepts it', () => {
    const { message, transfer } = traceLoadedMessage(RUN_ID, trace);
    assert.deepEqual([message.type, message.runId], ['traceLoaded', RUN_ID]);
    assert.equal(message.trace.blocks.length, trace.blocks.length);
    for (const block of message.trace.blocks) {
      for (const key of ['probs', 'scores', 'mask', 'meanProbs']) assert.equal(key in block, false, `the overview carries ${key}`);
    }
    assert.ok(message.trace.analysis?.colorLimits, 'the colour limits travel with the overview');
    assert.deepEqual(message.trace.analysis.colorLimits, computeColorLimits(trace));
    assert.ok(parseToWebview(message));
    // The residual norms and the rollout are the message's own copies, so they may be transferred.
    const own = [...message.trace.residual.map((step) => step.norms), ...message.trace.analysis.rollout.map((rollout) => rollout.values)];
    assert.ok(trace.residual.length > 0 && (trace.analysis?.rollout.length ?? 0) > 0, 'the trace has residual steps and a rollout');
    assert.equal(own.length, trace.residual.length + (trace.analysis?.rollout.length ?? 0));
    assert.deepEqual(transfer, own.map((array) => array.buffer));
    for (const array of own) assert.equal(array.buffer.byteLength, array.byteLength);
    assert.equal(new Set(transfer).size, transfer.length);
    message.trace.residual[0].norms[0] += 1;
    assert.notEqual(trace.residual[0].norms[0], message.trace.residual[0].norms[0], 'the overview shares the trace\'s residual norms');
  });
});

describe('every host answers with it', () => {
  // The hosts drifted apart when each built its own reply (the report dropped the mean of heads):
  // none builds a blockData message itself now.
  // VS Code serializes what it posts (copies); the report and the bench hand the reply over in the page.
  for (const [host, delivery] of [['src/vscode/webviewHost.ts', 'posted'], ['src/report/reportHost.ts', 'in-page'], ['bench/webview.ts', 'in-page']]) {
    test(host, () => {
      const source = readFileSync(path.join(root, host), 'utf8');
      // VS Code holds a trace read block by block (lazyTrace.ts): it answers with the lazy form of the same server.
      assert.match(source, new RegExp(`answer(Lazy)?BlockRequest\\([^;]*'${delivery}'\\)`), `${host} does not use the block server with '${delivery}' delivery`);
      assert.doesNotMatch(source, /type: 'blockData'/, `${host} builds its own block reply`);
    });
  }
});

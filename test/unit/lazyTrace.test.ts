/**
 * A trace read block by block (src/shared/lazyTrace.ts), which the VS Code host holds instead of a
 * whole trace: from memory and from a trace file it gives the blocks the engine computed, its
 * overview is the one the panel gets from a whole trace, its JSON and CSV are the whole trace's text,
 * and its cache keeps the blocks read last within its budget and forgets a failed read.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { TraceFile } from '../../src/engine/traceFile/reader';
import { writeTraceFile } from '../../src/engine/traceFile/writer';
import { answerBlockRequest, answerLazyBlockRequest, singleRun } from '../../src/shared/blockServer';
import { cachedBlocks, type LazyTrace, lazyAttentionBytes, lazyOverview, lazyTrace, lazyTraceJsonPieces, wholeTrace, withSkeleton } from '../../src/shared/lazyTrace';
import { parseToWebview, traceOverview } from '../../src/shared/protocol';
import type { AttentionBlock, AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { lazyTraceCsvPieces, traceCsvChunks } from '../../src/shared/traceCsv';
import { traceJsonChunks } from '../../src/shared/traceJson';

const work = mkdtempSync(path.join(tmpdir(), 'al-lazy-'));
after(() => rmSync(work, { recursive: true, force: true }));

let trace: AttentionTrace;
let file: TraceFile;

before(async () => {
  // Encoder self-attention with a padding mask, masked decoder self-attention, cross-attention.
  trace = await new ExplainEngine(null).explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec', padTo: 30 });
  const saved = path.join(work, 'run.attn.safetensors');
  await writeTraceFile(saved, lazyTrace(trace));
  file = await TraceFile.open(saved);
});
after(() => file?.close());

async function collect(pieces: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const piece of pieces) text += piece;
  return text;
}

describe('a trace read block by block', () => {
  test('from memory and from a trace file: the blocks the engine computed', async () => {
    assert.ok(trace.blocks.some((block) => block.mask !== null) && trace.blocks.some((block) => block.kind === 'cross'));
    for (const lazy of [lazyTrace(trace), file as LazyTrace]) {
      assert.equal(lazy.blocks.length, trace.blocks.length);
      const whole = await wholeTrace(lazy);
      whole.blocks.forEach((block, index) => {
        const computed = trace.blocks[index];
        assert.deepEqual(block.probs, computed.probs, `block ${index}`);
        assert.deepEqual(block.mask, computed.mask, `block ${index}: mask`);
        assert.deepEqual([block.layer, block.kind, block.heads, block.queries, block.keys], [computed.layer, computed.kind, computed.heads, computed.queries, computed.keys]);
        assert.equal(lazy.blocks[index].hasMask, computed.mask !== null);
      });
    }
    await assert.rejects(lazyTrace(trace).readBlock(trace.blocks.length), RangeError);
  });

  test('its bytes are the arrays\' bytes, counted from the shapes alone', () => {
    let expected = 0;
    for (const block of trace.blocks) expected += block.probs.byteLength + (block.scores?.byteLength ?? 0) + (block.mask?.byteLength ?? 0);
    assert.equal(lazyAttentionBytes(lazyTrace(trace)), expected);
    assert.equal(lazyAttentionBytes(file), expected);
  });

  test('its overview is what the panel gets from the whole trace, and the panel accepts it', () => {
    for (const lazy of [lazyTrace(trace), file as LazyTrace]) {
      const overview = lazyOverview(lazy);
      assert.deepEqual(overview, traceOverview(trace));
      assert.ok(parseToWebview({ type: 'traceLoaded', runId: 1, trace: overview }));
    }
  });

  test('its JSON and CSV are the whole trace\'s, read from the file block by block', async () => {
    // Ended by a newline, as text files are.
    assert.equal(await collect(lazyTraceJsonPieces(file)), `${[...traceJsonChunks(trace)].join('')}\n`);
    assert.equal(await collect(lazyTraceCsvPieces(file)), [...traceCsvChunks(trace)].join(''));
  });

  test('another skeleton (a host\'s words) keeps the same blocks', async () => {
    const reworded = withSkeleton(file, { ...trace, notices: [{ code: 'x', message: 'said here' }] });
    assert.deepEqual(reworded.skeleton.notices, [{ code: 'x', message: 'said here' }]);
    assert.deepEqual(reworded.skeleton.blocks, []);
    assert.deepEqual((await reworded.readBlock(1)).probs, trace.blocks[1].probs);
  });
});

describe('the block cache', () => {
  /** A LazyTrace over `trace` that counts its reads and can be made to fail. */
  function counted(): { lazy: LazyTrace; reads: number[]; failNext: () => void } {
    const reads: number[] = [];
    let fail = false;
    const inner = lazyTrace(trace);
    return {
      reads,
      failNext: () => {
        fail = true;
      },
      lazy: {
        ...inner,
        readBlock: async (index: number): Promise<AttentionBlock> => {
          reads.push(index);
          if (fail) {
            fail = false;
            throw new Error('read failed');
          }
          return inner.readBlock(index);
        },
      },
    };
  }
  const size = (block: AttentionBlock): number => block.probs.byteLength * (block.meanProbs ? 1 + 1 / block.heads : 1);

  test('a block read again comes from the cache; past the budget the least recently used goes', async () => {
    const { lazy, reads } = counted();
    // Room for blocks 2 and 3 (decoder-self, cross), not for 4 (decoder-self) beside them.
    const budget = size(trace.blocks[2]) + size(trace.blocks[3]) + 1;
    assert.ok(size(trace.blocks[2]) + size(trace.blocks[3]) + size(trace.blocks[4]) > budget);
    const cached = cachedBlocks(lazy, budget);
    assert.equal(await cached.readBlock(2), trace.blocks[2]);
    await cached.readBlock(4);
    await cached.readBlock(2);
    assert.deepEqual(reads, [2, 4], 'block 2 read once');
    await cached.readBlock(3);
    await cached.readBlock(2);
    assert.deepEqual(reads, [2, 4, 3], 'block 2, used last, stayed');
    await cached.readBlock(4);
    assert.deepEqual(reads, [2, 4, 3, 4], 'block 4, used least recently, went');
  });

  test('a block bigger than the budget is read each time; a failed read is tried again', async () => {
    const { lazy, reads, failNext } = counted();
    const none = cachedBlocks(lazy, 0);
    await none.readBlock(0);
    await none.readBlock(0);
    assert.deepEqual(reads, [0, 0]);
    const cached = cachedBlocks(lazy, Number.MAX_SAFE_INTEGER);
    failNext();
    await assert.rejects(cached.readBlock(3), /read failed/);
    assert.deepEqual((await cached.readBlock(3)).probs, trace.blocks[3].probs);
    assert.deepEqual(reads, [0, 0, 3, 3]);
  });
});

describe('block requests answered from a trace file', () => {
  test('the same reply as from the whole trace; arrays alone in their buffer go without a copy', async () => {
    const decoded = decodeTrace(encodeTrace(trace));
    for (let index = 0; index < trace.blocks.length; index++) {
      const request = { type: 'requestBlock' as const, requestId: index, runId: 3, blockIndex: index };
      const fromFile = await answerLazyBlockRequest((runId) => (runId === 3 ? file : undefined), request, 'posted');
      const fromMemory = answerBlockRequest(singleRun(3, decoded), request, 'posted');
      assert.ok(fromFile.kind === 'reply' && fromMemory.kind === 'reply');
      assert.deepEqual(fromFile.message, fromMemory.message, `block ${index}`);
      for (const array of [fromFile.message.probs, fromFile.message.mask, fromFile.message.mean]) {
        if (!array) continue;
        // VS Code posts a view's whole buffer: each array must be exactly its own bytes.
        assert.equal(array.byteOffset, 0);
        assert.equal(array.byteLength, array.buffer.byteLength);
      }
      // Copies only of what shared a buffer, each listed once.
      assert.equal(new Set(fromFile.transfer).size, fromFile.transfer.length);
    }
    const stale = await answerLazyBlockRequest(() => undefined, { type: 'requestBlock', requestId: 1, runId: 9, blockIndex: 0 }, 'posted');
    assert.deepEqual(stale, { kind: 'stale-run', runId: 9 });
    const missing = await answerLazyBlockRequest(() => file, { type: 'requestBlock', requestId: 1, runId: 9, blockIndex: 99 }, 'posted');
    assert.equal(missing.kind, 'no-such-block');
  });
});

/**
 * Every built-in preset runs at every length up to its token limit (512 by default) on every
 * backend: at 1 token, at the limit, and just past each power of two between (where buffers,
 * first-block sessions and pruned graphs change). paper-base once failed from 256 tokens on ONNX
 * Runtime: its first-block session (shown while the rest runs) was fed the decoder's input, which
 * its cut-down graph no longer has.
 *
 * The large presets run in TypeScript only at short lengths: the reference path handles every
 * length with the same code as the small presets (checked at every length below), and paper-base
 * at 512 tokens takes 30 s there.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import type { AttentionTrace } from '../../src/shared/trace';

const engine = new ExplainEngine(null);
const LIMIT = 512;
const SMALL = ['trained-decoder', 'tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'tiny-modern'] as const;
const LARGE = ['paper-base', 'gpt2-shape'] as const;
/** 1, 2^k + 1 for k = 0..8, and the limit. */
const SWEEP = [1, 2, 3, 5, 9, 17, 33, 65, 129, 257, LIMIT];
/** The ONNX path of the large presets: around the first-block threshold (256) too. */
const LARGE_ONNX = [1, 2, 17, 129, 255, 256, 257, LIMIT];

/** Text of exactly `tokens` bytes (the presets use the byte tokenizer). */
function text(tokens: number): string {
  return 'the cat sat on the mat. '.repeat(Math.ceil(tokens / 24)).slice(0, tokens);
}

function checkTrace(trace: AttentionTrace, tokens: number, label: string): void {
  assert.ok(trace.blocks.length > 0, `${label}: no blocks`);
  for (const block of trace.blocks) {
    const stream = trace.streams.find((candidate) => candidate.name === block.queryStream);
    assert.equal(block.queries, stream?.tokens.length, `${label}: queries of ${block.kind} L${block.layer}`);
    assert.ok(block.queries >= Math.min(tokens, LIMIT) && block.queries <= Math.min(tokens, LIMIT) + 1, `${label}: ${block.queries} queries for ${tokens} tokens`);
    for (let row = 0; row < block.heads * block.queries; row++) {
      let sum = 0;
      for (let key = 0; key < block.keys; key++) sum += block.probs[row * block.keys + key];
      assert.ok(Math.abs(sum - 1) < 1e-4, `${label}: ${block.kind} L${block.layer} row ${row} sums to ${sum}`);
    }
  }
}

async function run(preset: string, backend: 'reference' | 'wasm', tokens: number): Promise<void> {
  const label = `${preset} on ${backend}, ${tokens} tokens`;
  let partial: AttentionTrace | undefined;
  // onPartial as the worker passes it: big models then show their first block first.
  const trace = await engine.explain(text(tokens), { model: `builtin:${preset}`, backend, maxTokens: LIMIT, threads: 2 }, undefined, (first) => {
    partial = first;
  });
  checkTrace(trace, tokens, label);
  if (partial) checkTrace(partial, tokens, `${label} (first block)`);
}

for (const preset of SMALL) {
  test(`${preset} runs at ${SWEEP.join(', ')} tokens in TypeScript and on ONNX Runtime`, async () => {
    for (const tokens of SWEEP) {
      await run(preset, 'reference', tokens);
      await run(preset, 'wasm', tokens);
    }
  });
}

for (const preset of LARGE) {
  test(`${preset} runs at ${LARGE_ONNX.join(', ')} tokens on ONNX Runtime (first block included) and at short lengths in TypeScript`, async () => {
    for (const tokens of LARGE_ONNX) await run(preset, 'wasm', tokens);
    for (const tokens of [1, 9]) await run(preset, 'reference', tokens);
  });
}

/**
 * Head ablation on the reference model: the gate against a hand computation (a head's slice of the
 * concatenation zeroed, or set to its mean over the positions, before W_O, in float64), ablating
 * nothing gives KL 0, the trained model's previous-token head (found by its statistics) matters on
 * repeated text, the result through JSON, the binary form and trace files, and the CLI's flags.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { lazyTrace, TraceFile, writeTraceFile } from '../../src/engine';
import { klDivergenceBits, resolveAblation } from '../../src/engine/analysis/ablation';
import { referenceAblation } from '../../src/engine/analysis/ablationReference';
import { idTextOf } from '../../src/engine/analysis/topTokens';
import { loadBuiltinModel } from '../../src/engine/builtin';
import { ExplainEngine } from '../../src/engine/explain';
import { validateOptions } from '../../src/engine/options';
import { causalMask } from '../../src/engine/reference/masks';
import { MultiHeadAttention } from '../../src/engine/reference/multiHeadAttention';
import { SeededRandom } from '../../src/engine/reference/random';
import { neverCancelled, UserFacingError } from '../../src/shared/errors';
import type { AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { traceJsonChunks, traceToJson } from '../../src/shared/traceJson';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine(null);
const work = tempFolder('attention-lens-ablation-');
/** A line that repeats its first half, where copying needs the previous-token head. */
const REPEATED = 'The quick zebra juggles seven violet kites; the quick zebra juggles seven violet kites.';

describe('the gate, against a hand computation', () => {
  const D = 4;
  const HEADS = 2;
  const T = 3;
  const random = new SeededRandom(7);
  const tensors = new Map<string, Float32Array>();
  const values = (count: number): Float32Array => Float32Array.from({ length: count }, () => random.uniform(-1, 1));
  for (const name of ['query', 'key', 'value', 'output']) {
    tensors.set(`m.${name}.weight`, values(D * D));
    tensors.set(`m.${name}.bias`, values(D));
  }
  const weights = { tensor: (name: string): Float32Array => tensors.get(name) as Float32Array };
  const x = { rows: T, cols: D, data: values(T * D) };

  /** y = x·Wᵀ + b in float64, W [out, in]. */
  const linear = (input: number[][], name: string): number[][] => {
    const w = tensors.get(`${name}.weight`) as Float32Array;
    const b = tensors.get(`${name}.bias`) as Float32Array;
    return input.map((row) => Array.from({ length: D }, (_, out) => b[out] + row.reduce((sum, value, i) => sum + value * w[out * D + i], 0)));
  };

  /** The paper's multi-head attention by hand, with head `ablated`'s slice replaced before W_O. */
  const byHand = (ablated: number, mode: 'zero' | 'mean'): number[][] => {
    const rows = Array.from({ length: T }, (_, t) => Array.from(x.data.subarray(t * D, (t + 1) * D)));
    const q = linear(rows, 'm.query');
    const k = linear(rows, 'm.key');
    const v = linear(rows, 'm.value');
    const width = D / HEADS;
    const concat = rows.map(() => new Array<number>(D).fill(0));
    for (let head = 0; head < HEADS; head++) {
      const cols = Array.from({ length: width }, (_, i) => head * width + i);
      const out: number[][] = [];
      for (let i = 0; i < T; i++) {
        // causal: query i reads keys 0..i
        const scores = Array.from({ length: i + 1 }, (_, j) => cols.reduce((sum, c) => sum + q[i][c] * k[j][c], 0) / Math.sqrt(width));
        const max = Math.max(...scores);
        const exp = scores.map((score) => Math.exp(score - max));
        const total = exp.reduce((sum, value) => sum + value, 0);
        out.push(cols.map((c) => exp.reduce((sum, e, j) => sum + (e / total) * v[j][c], 0)));
      }
      const mean = cols.map((_, ci) => out.reduce((sum, row) => sum + row[ci], 0) / T);
      for (let i = 0; i < T; i++) {
        cols.forEach((c, ci) => {
          concat[i][c] = head !== ablated ? out[i][ci] : mode === 'zero' ? 0 : mean[ci];
        });
      }
    }
    return linear(concat, 'm.output');
  };

  for (const mode of ['zero', 'mean'] as const) {
    for (const head of [0, 1]) {
      test(`${mode} ablation of head ${head} equals the hand computation (1e-5)`, () => {
        const attention = new MultiHeadAttention(weights, 'm', D, HEADS);
        const gated = attention.forward(x, x, causalMask(T), { heads: new Set([head]), mode });
        const plain = attention.forward(x, x, causalMask(T));
        const expected = byHand(head, mode);
        let differs = 0;
        for (let i = 0; i < T; i++) {
          for (let c = 0; c < D; c++) {
            assert.ok(Math.abs(gated.output.data[i * D + c] - expected[i][c]) < 1e-5, `row ${i} col ${c}: ${gated.output.data[i * D + c]} vs ${expected[i][c]}`);
            differs = Math.max(differs, Math.abs(gated.output.data[i * D + c] - plain.output.data[i * D + c]));
          }
        }
        assert.ok(differs > 1e-3, 'the gate changed the output');
        assert.deepEqual(gated.probs, plain.probs, 'the head\'s own attention is kept');
      });
    }
  }
});

describe('KL and resolving heads', () => {
  test('KL of a row with itself is exactly 0; of two rows, the float64 sum', () => {
    assert.equal(klDivergenceBits([1, 2, 3], [1, 2, 3]), 0);
    const p = [0.2, 0.3, 0.5];
    const q = [0.5, 0.25, 0.25];
    const expected = p.reduce((sum, pi, i) => sum + pi * Math.log2(pi / q[i]), 0);
    assert.ok(Math.abs(klDivergenceBits(p.map(Math.log), q.map(Math.log)) - expected) < 1e-12);
  });

  test('heads outside the model are refused with code invalid-ablate and the ranges there are', () => {
    const blocks = [0, 1].flatMap((layer) => [{ kind: 'encoder-self' as const, layer, heads: 4 }, { kind: 'decoder-self' as const, layer, heads: 4 }, { kind: 'cross' as const, layer, heads: 4 }]);
    const refused = (targets: Parameters<typeof resolveAblation>[0], pattern: RegExp): void => {
      assert.throws(() => resolveAblation(targets, blocks), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-ablate' && pattern.test(error.message) && /encoder-self layers 0-1 with heads 0-3/.test(error.message));
    };
    refused([{ layer: 0, head: 0 }], /the kind of block must be named/);
    refused([{ kind: 'cross', layer: 2, head: 0 }], /there is no layer 2/);
    refused([{ kind: 'decoder-self', layer: 1, head: 4 }], /its block has 4 heads/);
    assert.deepEqual(resolveAblation([{ kind: 'cross', layer: 1, head: 3 }], blocks), [{ blockIndex: 5, kind: 'cross', layer: 1, head: 3 }]);
    assert.throws(() => validateOptions({ ablate: [{ layer: -1, head: 0 }] }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-ablate');
    assert.throws(() => validateOptions({ ablate: [{ layer: 0, head: 0 }, { layer: 0, head: 0 }] }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-ablate');
    assert.throws(() => validateOptions({ ablate: [{ layer: 0, head: 0 }], ablateMode: 'half' as 'zero' }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-ablate');
  });
});

describe('the trained model', () => {
  test('ablating nothing gives KL exactly 0 at every position and no change', async () => {
    const model = await loadBuiltinModel({ preset: 'trained-decoder' });
    const ids = [...Buffer.from(REPEATED)].map((byte) => byte + 4);
    const input = { decoderIds: ids };
    const original = model.transformer.forward(input, neverCancelled);
    const { result } = referenceAblation(model.transformer, input, original, { targets: [], mode: 'zero' }, idTextOf(model.tokenizer), neverCancelled);
    assert.equal(result.kl?.length, ids.length);
    assert.ok(result.kl?.every((kl) => kl === 0));
    assert.deepEqual(result.changedTop, []);
  });

  test('its previous-token head, found by the statistics, changes the predictions on repeated text (mean KL > 0.01 bits)', async () => {
    const plain = await engine.explain(REPEATED, { backend: 'reference' });
    const stats = plain.analysis?.headStats ?? [];
    const best = stats.reduce((top, entry) => (entry.prevToken > top.prevToken ? entry : top));
    assert.ok(best.prevToken > 0.9, `a previous-token head exists (${best.prevToken})`);
    const trace = await engine.explain(REPEATED, { backend: 'reference', ablate: [{ layer: best.layer, head: best.head }] });
    const ablation = trace.ablation;
    assert.ok(ablation?.kl);
    const mean = ablation.kl.reduce((sum, kl) => sum + kl, 0) / ablation.kl.length;
    assert.ok(mean > 0.01, `mean KL ${mean}`);
    assert.ok((ablation.changedTop?.length ?? 0) > 0);
    for (const changed of ablation.changedTop ?? []) assert.notEqual(changed.before.id, changed.after.id);
    // The trace is the original run's, and the blocks after the head's own moved.
    assert.deepEqual(trace.blocks.map((block) => Array.from(block.probs)), plain.blocks.map((block) => Array.from(block.probs)));
    assert.deepEqual(ablation.blocks.map((change) => change.blockIndex), [1, 2]);
    assert.ok(ablation.blocks.every((change) => change.maxAbs > 0 && change.meanAbs.length === 4));
    // A head that barely matters moves the predictions far less.
    const weakest = await engine.explain(REPEATED, { backend: 'reference', ablate: [{ layer: 2, head: 3 }] });
    const weakMean = (weakest.ablation?.kl ?? []).reduce((sum, kl) => sum + kl, 0) / REPEATED.length;
    assert.ok(weakMean < mean, `${weakMean} < ${mean}`);
  });

  test('mean ablation differs from zero ablation and is reported as such', async () => {
    const zero = await engine.explain(REPEATED, { backend: 'reference', ablate: [{ layer: 0, head: 3 }] });
    const mean = await engine.explain(REPEATED, { backend: 'reference', ablate: [{ layer: 0, head: 3 }], ablateMode: 'mean' });
    assert.equal(mean.ablation?.mode, 'mean');
    assert.notDeepEqual(mean.ablation?.kl, zero.ablation?.kl);
  });
});

describe('the ablation through every form of the trace', () => {
  let traced: AttentionTrace | undefined;
  const trace = async (): Promise<AttentionTrace> => {
    traced ??= await engine.explain('the cat and the cat', { model: 'builtin:tiny-encdec', backend: 'reference', ablate: [{ kind: 'encoder-self', layer: 0, head: 1 }, { kind: 'cross', layer: 1, head: 0 }] });
    return traced;
  };

  test('an encoder-decoder: the blocks after the first ablated head, by kind', async () => {
    const whole = await trace();
    const ablation = whole.ablation;
    assert.ok(ablation);
    assert.deepEqual(ablation.heads.map((head) => [head.kind, head.layer, head.head]), [['encoder-self', 0, 1], ['cross', 1, 0]]);
    assert.equal(ablation.blocks[0].blockIndex, ablation.heads[0].blockIndex + 1);
    // The decoder's first self-attention reads no encoder output: ablating an encoder head leaves it alone.
    assert.equal(ablation.blocks.find((change) => change.kind === 'decoder-self' && change.layer === 0)?.maxAbs, 0);
    assert.ok(ablation.blocks.some((change) => change.kind === 'cross' && change.maxAbs > 0));
  });

  test('JSON, the binary form and a trace file carry it unchanged', async () => {
    const whole = await trace();
    const json = JSON.parse(JSON.stringify(traceToJson(whole))) as { ablation: unknown };
    assert.deepEqual(json.ablation, whole.ablation);
    assert.deepEqual((JSON.parse([...traceJsonChunks(whole)].join('')) as { ablation: unknown }).ablation, whole.ablation);
    assert.deepEqual(decodeTrace(encodeTrace(whole)).ablation, whole.ablation);
    const file = path.join(work, 'ablation.attn.safetensors');
    await writeTraceFile(file, lazyTrace(whole));
    const opened = await TraceFile.open(file);
    try {
      assert.deepEqual((await opened.readTrace()).ablation, whole.ablation);
    } finally {
      await opened.close();
    }
  });

  test('a trace file whose ablation does not fit its blocks or tokens is refused, naming the field', async () => {
    const whole = await trace();
    const ablation = whole.ablation;
    assert.ok(ablation);
    const file = path.join(work, 'broken.attn.safetensors');
    for (const broken of [{ ...ablation, kl: ablation.kl?.slice(1) }, { ...ablation, heads: [{ ...ablation.heads[0], head: 9 }] }, { ...ablation, blocks: [{ ...ablation.blocks[0], meanAbs: [1] }] }]) {
      await writeTraceFile(file, lazyTrace({ ...whole, ablation: broken }));
      await assert.rejects(TraceFile.open(file), (error: unknown) => error instanceof UserFacingError && error.code === 'trace-file-bad-metadata' && /ablation/.test(error.message));
    }
  });
});

describe('the command line', () => {
  const cli = path.resolve(__dirname, '../../dist/cli.js');
  const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });

  test('bad --ablate values are usage errors that name the flag and what is valid', () => {
    for (const value of ['x', '1', '1.2.3', '-1.0', 'encoder.0.1', '0.x']) {
      const result = run([`--ablate=${value}`, 'hi']);
      assert.equal(result.status, 2, `${value}: ${result.stderr}`);
      assert.match(result.stderr, /^--ablate expects LAYER\.HEAD \(both from 0/, value);
    }
    const twice = run(['--ablate', '0.1', '--ablate', '0.1', 'hi']);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /--ablate gives head 0\.1 twice/);
    const mode = run(['--ablate', '0.1', '--ablate-mode', 'half', 'hi']);
    assert.equal(mode.status, 2);
    assert.match(mode.stderr, /--ablate-mode expects zero or mean, got "half"/);
    assert.match(run(['--ablate-mode', 'mean', 'hi']).stderr, /use it with --ablate/);
    const range = run(['--ablate', '3.0', 'hi']);
    assert.equal(range.status, 2, range.stderr);
    assert.match(range.stderr, /^--ablate: Cannot ablate layer 3 head 0: there is no layer 3\. This model has decoder-self layers 0-2 with heads 0-3\.\nWrite --ablate LAYER\.HEAD/);
    const kind = run(['--model', 'builtin:tiny-encdec', '--ablate', '0.0', 'hi']);
    assert.equal(kind.status, 2, kind.stderr);
    assert.match(kind.stderr, /the kind of block must be named/);
    assert.doesNotMatch(range.stderr + kind.stderr, /Internal error|^\s+at /m);
  });

  test('the summary prints the ablation; --json carries it', () => {
    const result = run(['--ablate', '0.3', '--json', '-', REPEATED]);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { ablation: { kl: number[]; heads: unknown[] } };
    assert.equal(json.ablation.kl.length, REPEATED.length);
    assert.deepEqual(json.ablation.heads, [{ blockIndex: 0, kind: 'decoder-self', layer: 0, head: 3 }]);
    const summary = run(['--ablate', 'dec.0.3', '--ablate-mode', 'mean', REPEATED]);
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(summary.stdout, /\nablation \(mean\): layer 0 decoder-self head 3\n {2}KL\(original \|\| ablated\) of the decoder next-token distribution: mean \d+\.\d{4} bits, max \d+\.\d{4} bits at @\d+\n {2}top-1 prediction changed at \d+ of 87 positions/);
    assert.match(summary.stdout, /attention of later blocks[^\n]*\n {4}layer 1 decoder-self/);
  });
});

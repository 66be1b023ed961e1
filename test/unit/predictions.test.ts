/**
 * Predictions: the LM head's top-k next tokens at every position. The top-k is checked against a
 * plain float64 softmax and sort; a reference run against a float64 recomputation from its final
 * states; the ONNX export of each built-in model against the reference (1e-5 in probability); the
 * field through JSON, the binary form and trace files; the CLI's messages for a bad --top-k.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { lazyTrace, TraceFile, writeTraceFile } from '../../src/engine';
import { checkTopK, idTextOf, topTokens } from '../../src/engine/analysis/topTokens';
import { loadBuiltinModel } from '../../src/engine/builtin';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { validateOptions } from '../../src/engine/options';
import { PRESETS } from '../../src/engine/reference/config';
import { SeededRandom } from '../../src/engine/reference/random';
import { createByteTokenizer } from '../../src/engine/tokenizers/index';
import { neverCancelled, UserFacingError } from '../../src/shared/errors';
import type { AttentionTrace, TokenPrediction } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { traceJsonChunks, traceToJson } from '../../src/shared/traceJson';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine(null);
const work = tempFolder('predictions-');
const TEXT = 'the cat sat on the mat. the cat';

/** Float64 softmax, then a full sort (most likely first, lower id on ties): the naive top-k. */
function naiveTop(logits: readonly number[], k: number): Array<{ id: number; prob: number }> {
  const max = Math.max(...logits);
  const total = logits.reduce((sum, logit) => sum + Math.exp(logit - max), 0);
  return logits.map((logit, id) => ({ id, prob: Math.exp(logit - max) / total })).sort((a, b) => b.prob - a.prob || a.id - b.id).slice(0, k);
}

function assertSameTop(actual: readonly TokenPrediction[], expected: ReadonlyArray<{ id: number; prob: number }>, tolerance: number, what: string): void {
  assert.deepEqual(actual.map((entry) => entry.id), expected.map((entry) => entry.id), `${what}: ids`);
  actual.forEach((entry, index) => assert.ok(Math.abs(entry.prob - expected[index].prob) <= tolerance, `${what}: #${index} ${entry.prob} vs ${expected[index].prob}`));
}

describe('top-k of a logits row', () => {
  test('matches a float64 softmax and a full sort on 200 seeded rows, ties by lower id', () => {
    const random = new SeededRandom(2026);
    for (let trial = 0; trial < 200; trial++) {
      const vocabulary = 1 + Math.floor(random.next() * 40);
      // Rounded to quarters so equal logits (ties) happen often.
      const logits = Array.from({ length: vocabulary }, () => Math.round((random.next() * 8 - 4) * 4) / 4);
      const k = 1 + Math.floor(random.next() * vocabulary);
      assertSameTop(topTokens(Float32Array.from(logits), k, String), naiveTop(logits, k), 1e-12, `trial ${trial}`);
    }
  });

  test('worked by hand: logits [0, ln 2, ln 3] give 1/6, 2/6, 3/6', () => {
    const top = topTokens([0, Math.log(2), Math.log(3)], 3, (id) => `t${id}`);
    assert.deepEqual(top.map((entry) => [entry.id, entry.text]), [[2, 't2'], [1, 't1'], [0, 't0']]);
    [3 / 6, 2 / 6, 1 / 6].forEach((expected, index) => assert.ok(Math.abs(top[index].prob - expected) < 1e-15));
  });

  test('a top-k of 0, a fraction or more than the vocabulary is refused with its facts', () => {
    for (const k of [0, 2.5, 261]) {
      assert.throws(() => checkTopK(k, 260), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-top-k' && error.facts.vocabulary === 260);
    }
    assert.doesNotThrow(() => checkTopK(260, 260));
    assert.throws(() => validateOptions({ topK: 0 }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-top-k');
    assert.throws(() => validateOptions({ topK: 1001 }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-top-k');
  });

  test('the byte tokenizer names each id: ASCII as itself, other bytes as <0xHH>, specials by name', () => {
    const text = idTextOf(createByteTokenizer());
    assert.deepEqual([text(4 + 97), text(4 + 32), text(4 + 10), text(4 + 0xc3), text(1), text(300)], ['a', ' ', '\n', '<0xC3>', '<s>', '[300]']);
    assert.equal(idTextOf(null)(5), '[5]');
  });
});

describe('predictions of a reference run', () => {
  test('trained-decoder: equal to a float64 softmax of the final states times the embedding table', async () => {
    const config = PRESETS['trained-decoder'];
    const trace = await engine.explain(TEXT, { model: 'builtin:trained-decoder', backend: 'reference', topK: 4 });
    const model = await loadBuiltinModel({ preset: 'trained-decoder' });
    const ids = trace.streams[0].tokens.map((token) => token.id);
    const hidden = model.transformer.forward({ decoderIds: ids }, neverCancelled).decoderOutput;
    assert.ok(hidden);
    const table = model.weights.tensor('embedding.weight', [config.vocabSize, config.dModel]);
    const predictions = trace.predictions?.[0];
    assert.equal(predictions?.stream, 'decoder');
    assert.equal(predictions?.top.length, ids.length);
    for (let position = 0; position < ids.length; position++) {
      const logits = Array.from({ length: config.vocabSize }, (_, id) => {
        let sum = 0;
        for (let c = 0; c < config.dModel; c++) sum += hidden.data[position * config.dModel + c] * table[id * config.dModel + c];
        return sum;
      });
      assertSameTop(predictions?.top[position] ?? [], naiveTop(logits, 4), 1e-5, `@${position}`);
    }
    // The trained model has learned English spelling: after "th" it expects "e", after "the" a space.
    assert.equal(predictions?.top[1][0].text, 'e');
    assert.equal(predictions?.top[2][0].text, ' ');
    assert.ok((predictions?.top[2][0].prob ?? 0) > 0.9);
  });
});

describe('the ONNX export gives the reference\'s predictions', () => {
  for (const preset of ['trained-decoder', 'tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'tiny-modern'] as const) {
    test(`${preset}: same ids, probabilities within 1e-5`, async () => {
      const reference = await engine.explain(TEXT, { model: `builtin:${preset}`, backend: 'reference' });
      const onnx = await engine.explain(TEXT, { model: `builtin:${preset}`, backend: 'wasm' });
      assert.equal(onnx.backend, 'wasm');
      assert.ok(reference.predictions && onnx.predictions, 'both have predictions');
      assert.deepEqual(onnx.predictions.map((entry) => entry.stream), reference.predictions.map((entry) => entry.stream));
      const expected = reference.predictions[0].top;
      assert.equal(onnx.predictions[0].top.length, expected.length);
      onnx.predictions[0].top.forEach((top, position) => assertSameTop(top, expected[position], 1e-5, `@${position}`));
      assert.deepEqual(onnx.predictions[0].top.map((top) => top.map((entry) => entry.text)), expected.map((top) => top.map((entry) => entry.text)));
    });
  }

  test('an ONNX file: predictions from its logits output; the lens is refused with a notice saying why', async () => {
    const file = path.join(work, 'tiny-decoder.onnx');
    writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model);
    const reference = await engine.explain(TEXT, { model: 'builtin:tiny-decoder', backend: 'reference', topK: 2 });
    const onnx = await engine.explain(TEXT, { model: file, topK: 2, logitLens: true });
    assert.equal(onnx.logitLens, undefined);
    assert.ok(onnx.notices.some((entry) => entry.code === 'logit-lens-unavailable'));
    onnx.predictions?.[0].top.forEach((top, position) => assertSameTop(top, reference.predictions?.[0].top[position] ?? [], 1e-5, `@${position}`));
    await assert.rejects(engine.explain(TEXT, { model: file, topK: 261 }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-top-k');
  });
});

describe('predictions and the lens through every form of the trace', () => {
  let traced: AttentionTrace | undefined;
  const trace = async (): Promise<AttentionTrace> => {
    traced ??= await engine.explain('héllo wörld', { model: 'builtin:tiny-decoder', backend: 'reference', logitLens: true, topK: 3 });
    return traced;
  };

  test('JSON: traceToJson and the chunked writer carry them unchanged', async () => {
    const whole = await trace();
    const json = JSON.parse(JSON.stringify(traceToJson(whole))) as { predictions: unknown; logitLens: unknown };
    assert.deepEqual(json.predictions, whole.predictions);
    assert.deepEqual(json.logitLens, whole.logitLens);
    const chunked = JSON.parse([...traceJsonChunks(whole)].join('')) as { predictions: unknown; logitLens: unknown };
    assert.deepEqual(chunked.predictions, whole.predictions);
    assert.deepEqual(chunked.logitLens, whole.logitLens);
  });

  test('the binary form carries them unchanged', async () => {
    const whole = await trace();
    const back = decodeTrace(encodeTrace(whole));
    assert.deepEqual(back.predictions, whole.predictions);
    assert.deepEqual(back.logitLens, whole.logitLens);
  });

  test('a trace file carries them in its metadata, unchanged', async () => {
    const whole = await trace();
    const file = path.join(work, 'lens.attn.safetensors');
    await writeTraceFile(file, lazyTrace(whole));
    const opened = await TraceFile.open(file);
    try {
      const back = await opened.readTrace();
      assert.deepEqual(back.predictions, whole.predictions);
      assert.deepEqual(back.logitLens, whole.logitLens);
    } finally {
      await opened.close();
    }
  });

  test('a trace file whose predictions do not fit its tokens is refused, naming the field', async () => {
    const whole = await trace();
    const broken: AttentionTrace = { ...whole, predictions: [{ stream: 'decoder', top: whole.predictions?.[0].top.slice(1) ?? [] }] };
    const file = path.join(work, 'broken.attn.safetensors');
    await writeTraceFile(file, lazyTrace(broken));
    await assert.rejects(TraceFile.open(file), (error: unknown) => error instanceof UserFacingError && error.code === 'trace-file-bad-metadata' && /predictions 0 has \d+ positions/.test(error.message));
    const badProb: AttentionTrace = { ...whole, logitLens: whole.logitLens?.map((layer) => ({ ...layer, top: layer.top.map((top) => top.map((entry) => ({ ...entry, prob: 2 }))) })) };
    await writeTraceFile(file, lazyTrace(badProb));
    await assert.rejects(TraceFile.open(file), (error: unknown) => error instanceof UserFacingError && error.code === 'trace-file-bad-metadata' && /logitLens 0/.test(error.message));
  });
});

describe('the command line', () => {
  const cli = path.resolve(__dirname, '../../dist/cli.js');
  const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });

  test('--top-k 0 and --top-k past the vocabulary are usage errors that say why', () => {
    const zero = run(['--model', 'builtin:tiny-decoder', '--top-k', '0', 'hi']);
    assert.equal(zero.status, 2);
    assert.match(zero.stderr, /--top-k expects a whole number from 1 to 1000, got "0"/);
    const big = run(['--model', 'builtin:tiny-decoder', '--top-k', '300', 'hi']);
    assert.equal(big.status, 2, big.stderr);
    assert.match(big.stderr, /^--top-k: 300 top tokens per position were asked for, but the model's vocabulary has 260 tokens\.\nAsk for a whole number of top tokens from 1 to 260\./);
    assert.doesNotMatch(big.stderr, /Internal error|^\s+at /m);
  });

  test('the summary prints the top-1 per position and, with --logit-lens, the table; --open prints the same', () => {
    const file = path.join(work, 'cli.attn.safetensors');
    const live = run(['--model', 'builtin:trained-decoder', '--logit-lens', '--top-k', '2', '--save', file, 'the cat']);
    assert.equal(live.status, 0, live.stderr);
    assert.match(live.stdout, /decoder predictions \(top-1 of 2 per position, after each token\):\n {2}@0 "[^"]*" \d\.\d\d {2}@1 /);
    assert.match(live.stdout, /logit lens \(top-1 per layer and position[^\n]*\n {2}logit lens +@0 +@1[^\n]*\n {2}decoder L0 [^\n]*\n {2}decoder L1 [^\n]*\n {2}decoder L2 /);
    const opened = run(['--open', file]);
    assert.equal(opened.status, 0, opened.stderr);
    const section = (text: string): string => text.slice(text.indexOf('decoder predictions'), text.indexOf('\nlayer 0'));
    assert.equal(section(opened.stdout), section(live.stdout));
  });
});

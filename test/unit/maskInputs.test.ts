/**
 * Inputs the engine fills itself: attention masks in the model's own convention (1 = keep as
 * Hugging Face writes them, 1 = block as Megatron's masked_fill does), masks of fixed rank-4 size
 * with the sequence fitted to them, `causal` masks given by name, and `ids:` values that take the
 * input's declared rank (ONNX Runtime's 1-D mask_index). The attention of each run is checked
 * against a float64 computation of the same one-head model.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { ElementType, GraphBuilder } from '../../src/engine/onnx/builder';
import { idsShape } from '../../src/engine/onnx/inputs';
import { decodeModel, encodeModel } from '../../src/engine/onnx/model';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import { createByteTokenizer } from '../../src/engine/tokenizers/bytes';

const folder = mkdtempSync(path.join(tmpdir(), 'al-mask-inputs-'));
after(() => rmSync(folder, { recursive: true, force: true }));
const engine = new ExplainEngine(null);

const D = 8;
const VOCAB = 260;

/** Deterministic weights in [-0.5, 0.5). */
function weights(seed: number, count: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  });
}

type MaskStyle =
  /** Hugging Face: attention_mask [batch, seq] 1 = keep, added as (1 − m)·(−10000). */
  | 'hf-additive'
  /** Megatron: attention_mask [batch, 1, S, S] float, 1 = block, masked_fill → Where(mask, −10000, scores). */
  | 'megatron-where'
  /** A mask that goes through a MatMul on its way: the convention cannot be read. */
  | 'opaque';

const EMBEDDING = weights(1, VOCAB * D);
const WQ = weights(2, D * D);
const WK = weights(3, D * D);
const WV = weights(4, D * D);

/** One attention head over a byte embedding, with the mask input of the given style. */
function oneHeadModel(style: MaskStyle, fixed = 8): string {
  const g = new GraphBuilder();
  const ids = g.input('input_ids', ElementType.INT64, [1, style === 'megatron-where' ? fixed : 'sequence']);
  const mask = style === 'megatron-where'
    ? g.input('attention_mask', ElementType.FLOAT, ['batch_size', 1, fixed, fixed])
    : g.input('attention_mask', ElementType.INT64, [1, 'sequence']);
  const x = g.op('Gather', [g.floatTensor('embedding', [VOCAB, D], EMBEDDING), ids], 'x');
  const axis1 = g.int64Tensor('axis1', [1], [1]);
  const project = (name: string, w: Float32Array): string => g.op('Unsqueeze', [g.op('MatMul', [x, g.floatTensor(name, [D, D], w)], `${name}_x`), axis1], `${name}_4d`);
  const q = project('wq', WQ);
  const k = project('wk', WK);
  const v = project('wv', WV);
  const kt = g.op('Transpose', [k], 'kt', { perm: [0, 1, 3, 2] });
  const scores = g.op('Div', [g.op('MatMul', [q, kt], 'qk'), g.floatTensor('sqrt_d', [], [Math.sqrt(D)])], 'scores');
  let masked: string;
  if (style === 'megatron-where') {
    const condition = g.op('Cast', [mask], 'mask_bool', { to: ElementType.BOOL });
    masked = g.op('Where', [condition, g.floatTensor('fill', [], [-10000]), scores], 'masked');
  } else {
    let m = g.op('Cast', [mask], 'mask_f', { to: ElementType.FLOAT });
    if (style === 'opaque') m = g.op('MatMul', [g.op('Unsqueeze', [m, g.int64Tensor('axis2', [1], [2])], 'm3'), g.floatTensor('one', [1, 1], [1])], 'm_mm');
    const inverted = g.op('Sub', [g.floatTensor('one_f', [], [1]), style === 'opaque' ? g.op('Squeeze', [m, g.int64Tensor('axis2b', [1], [2])], 'm_sq') : m], 'inverted');
    const bias = g.op('Mul', [inverted, g.floatTensor('neg', [], [-10000])], 'bias');
    const bias4 = g.op('Unsqueeze', [bias, g.int64Tensor('axes12', [2], [1, 2])], 'bias4');
    masked = g.op('Add', [scores, bias4], 'masked');
  }
  const probs = g.op('Softmax', [masked], 'probs', { axis: -1 });
  const out = g.op('MatMul', [probs, v], 'out');
  g.output(out, ElementType.FLOAT, [1, 1, style === 'megatron-where' ? fixed : 'sequence', D]);
  const model = g.build({ graphName: style, opset: 17, producer: 'test', metadata: { 'attention_lens.tokenizer': JSON.stringify({ type: 'bytes' }) } });
  const file = path.join(folder, `${style}.onnx`);
  writeFileSync(file, encodeModel(model));
  return file;
}

/** The head's attention in float64: softmax((x Wq)(x Wk)ᵀ/√d) over the allowed keys. */
function expectedAttention(ids: readonly number[], allowed: (query: number, key: number) => boolean): number[][] {
  const row = (id: number): number[] => Array.from(EMBEDDING.subarray(id * D, id * D + D));
  const times = (x: number[], w: Float32Array): number[] => Array.from({ length: D }, (_, j) => x.reduce((sum, value, i) => sum + value * w[i * D + j], 0));
  const q = ids.map((id) => times(row(id), WQ));
  const k = ids.map((id) => times(row(id), WK));
  return q.map((qi, query) => {
    const logits = k.map((kj, key) => (allowed(query, key) ? qi.reduce((sum, value, i) => sum + value * kj[i], 0) / Math.sqrt(D) : Number.NEGATIVE_INFINITY));
    const max = Math.max(...logits);
    const exps = logits.map((logit) => (logit === Number.NEGATIVE_INFINITY ? 0 : Math.exp(logit - max)));
    const total = exps.reduce((sum, value) => sum + value, 0);
    return exps.map((value) => value / total);
  });
}

function assertAttention(probs: Float32Array, expected: number[][]): void {
  const n = expected.length;
  for (let query = 0; query < n; query++) {
    for (let key = 0; key < n; key++) {
      // −10000 is not −∞: a blocked key keeps e^(−10000) ≈ 0 of the weight.
      assert.ok(Math.abs(probs[query * n + key] - expected[query][key]) <= 1e-5, `p(${query}, ${key}) = ${probs[query * n + key]}, expected ${expected[query][key]}`);
    }
  }
}

test('the mask convention is read from the graph: 1 keeps for Hugging Face masks, 0 keeps for Megatron masked_fill, unknown through a MatMul', () => {
  const read = (style: MaskStyle): unknown => analyzeAndTap(decodeModel(readFileSync(oneHeadModel(style)), style)).plan.maskConventions?.attention_mask;
  assert.deepEqual(read('hf-additive'), { keep: 1, block: 0 });
  assert.deepEqual(read('megatron-where'), { keep: 0, block: 1 });
  assert.equal(read('opaque'), undefined);
});

test('a Megatron-style fixed [batch, 1, 8, 8] mask (1 = block) is filled by the engine; the text is fitted to 8 tokens, filler keys blocked', async () => {
  const model = oneHeadModel('megatron-where');
  const trace = await engine.explain('hello', { model, backend: 'wasm', threads: 1 });
  assert.equal(trace.streams[0].tokens.length, 8);
  assert.ok(trace.notices.some((notice) => /takes exactly 8 tokens/.test(notice.message)), trace.notices.map((notice) => notice.message).join('\n'));
  assert.ok(trace.notices.some((notice) => notice.code === 'mask-convention' && /attention_mask blocks a key with 1 and keeps it with 0/.test(notice.message)), trace.notices.map((notice) => notice.message).join('\n'));
  const ids = trace.streams[0].tokens.map((token) => token.id);
  const real = createByteTokenizer().encode('hello').length;
  assertAttention(trace.blocks[0].probs, expectedAttention(ids, (_query, key) => key < real));
  // The decoded mask is what the model applied: real keys allowed, filler keys blocked.
  const mask = trace.blocks[0].mask;
  assert.ok(mask);
  for (let cell = 0; cell < 64; cell++) assert.equal(mask[cell], cell % 8 < real ? 1 : 0);
});

test('"causal" fills a mask input with a causal mask in the model\'s convention', async () => {
  const model = oneHeadModel('megatron-where');
  const trace = await engine.explain('abcdefgh', { model, backend: 'wasm', threads: 1, inputs: { attention_mask: { kind: 'causal' } } });
  const ids = trace.streams[0].tokens.map((token) => token.id);
  assertAttention(trace.blocks[0].probs, expectedAttention(ids, (query, key) => key <= query));
  await assert.rejects(engine.explain('abc', { model: oneHeadModel('hf-additive'), backend: 'wasm', threads: 1, inputs: { attention_mask: { kind: 'causal' } } }), /cannot hold a causal mask/);
});

test('a Hugging Face [batch, seq] mask keeps every token (1), and an unreadable convention falls back to 1 = keep', async () => {
  for (const style of ['hf-additive', 'opaque'] as const) {
    const trace = await engine.explain('attend', { model: oneHeadModel(style), backend: 'wasm', threads: 1 });
    const ids = trace.streams[0].tokens.map((token) => token.id);
    assertAttention(trace.blocks[0].probs, expectedAttention(ids, () => true));
    assert.ok(!trace.notices.some((notice) => /blocks a key with/.test(notice.message)));
  }
});

test('ids: values take the input\'s declared rank', () => {
  const input = (dims: Array<number | string | null>): { name: string; elementType: number; dims: Array<number | string | null> } => ({ name: 'x', elementType: ElementType.INT64, dims });
  assert.deepEqual(idsShape(input(['batch']), 1), [1]);
  assert.deepEqual(idsShape(input(['batch']), 3), [3]);
  assert.deepEqual(idsShape(input(['batch', 'sequence']), 3), [1, 3]);
  assert.deepEqual(idsShape(input([]), 1), []);
  assert.throws(() => idsShape(input([]), 2), /is a scalar/);
});

test('--input mask_index=ids:N feeds ONNX Runtime\'s 1-D mask_index (the fp16 BERT attention fixture)', async () => {
  const fixture = path.resolve(__dirname, '../../../shared/fixtures/onnx/ort_bert_attention_block_mask1d_fp16.onnx');
  const trace = await engine.explain('', {
    model: fixture,
    backend: 'wasm',
    threads: 1,
    inputs: {
      mask_index: { kind: 'ids', values: [3] },
      input: { kind: 'random', shape: [1, 5, 768], seed: 1 },
      weight: { kind: 'random', shape: [768, 2304], seed: 2 },
      bias: { kind: 'random', shape: [2304], seed: 3 },
    },
  });
  const block = trace.blocks[0];
  assert.equal(block.keys, 5);
  // mask_index 3: keys 3 and 4 are padding, so every row puts its weight on keys 0-2.
  for (let row = 0; row < block.heads * block.queries; row++) {
    const weights = block.probs.subarray(row * 5, row * 5 + 5);
    assert.ok(Math.abs(weights[0] + weights[1] + weights[2] - 1) < 1e-3, `row ${row}: ${Array.from(weights).join(', ')}`);
  }
});

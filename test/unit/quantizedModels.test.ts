/**
 * Quantized exports (issue 18): decoders whose weight products are quantized as
 * onnxruntime.quantization.quantize_dynamic writes them (DynamicQuantizeLinear → MatMulInteger → Cast →
 * Mul by the scales), as the onnxruntime-genai builder writes int4 (com.microsoft MatMulNBits, with or
 * without zero points, packed QKV; around com.microsoft GroupQueryAttention once its rewrite is there),
 * and as static QDQ does (QuantizeLinear/DequantizeLinear) run on
 * onnxruntime-web, and their attention, which stays float, is found and tapped: every block
 * decoder self-attention with its causal mask, the tapped model's outputs equal the original's exactly,
 * and the probabilities are those of the same model with the weights dequantized. The graphs come
 * from test/support/quantizedGraphs.ts.
 */
import { strict as assert } from 'node:assert';
import { before, describe, test } from 'node:test';
import ort = require('onnxruntime-web');
import { withOpenGates } from '../support/headGates';
import { encodeModel, type ModelProto } from '../../src/engine/onnx/model';
import { GROUP_QUERY_REWRITERS } from '../../src/engine/onnx/fusedGroupQuery';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import type { TapPlan } from '../../src/engine/onnx/tapPlan';
import { packInt4, quantizedDecoder, type QuantizedDecoderOptions } from '../support/quantizedGraphs';

before(() => {
  ort.env.wasm.numThreads = 1;
});

const TOKENS = 9;

async function run(model: ModelProto, tokens = TOKENS): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const ids = Array.from({ length: tokens }, (_, i) => (i * 7 + 3) % 40);
    return await session.run(withOpenGates(session.inputNames, { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, tokens]) }));
  } finally {
    await session.release();
  }
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return Number.isNaN(worst) ? Infinity : worst;
}

interface Tapped {
  plan: TapPlan;
  outputs: Record<string, ort.Tensor>;
  logits: Float32Array;
}

/**
 * Taps the model and checks what the taps promise: two decoder self-attention blocks with a causal
 * mask, probabilities [1, heads, T, T] whose rows sum to 1 with nothing above the diagonal, residual
 * norms per token, and the model's own output unchanged to the bit (within 1e-5 where a fused
 * kernel was rewritten).
 */
async function tapAndCheck(model: ModelProto, heads: number, fused: boolean): Promise<Tapped> {
  const { model: tappedModel, plan } = analyzeAndTap(model);
  assert.deepEqual(
    plan.attention.map((tap) => `${tap.kind}:${tap.queryStream}>${tap.keyStream}:L${tap.layer}:${tap.layout}:${tap.expectedMaskKind}`),
    ['decoder-self:decoder>decoder:L0:BHQK:causal', 'decoder-self:decoder>decoder:L1:BHQK:causal'],
  );
  const original = await run(model);
  const outputs = await run(tappedModel);
  const name = model.graph?.output?.[0]?.name ?? '';
  const logits = original[name].data as Float32Array;
  if (fused) {
    // A fused kernel is rewritten into primitive operators: the same logits within float32 rounding.
    const drift = maxAbsDiff(outputs[name].data as Float32Array, logits);
    assert.ok(drift <= 1e-5, `the tapped model's logits: max |Δ| = ${drift}`);
  } else {
    assert.deepEqual(outputs[name].data, logits, 'the tapped model gives the original\'s logits exactly');
  }
  for (const tap of plan.attention) {
    const probs = outputs[tap.output];
    assert.deepEqual(probs.dims, [1, heads, TOKENS, TOKENS], `${tap.node}: shape`);
    const data = probs.data as Float32Array;
    for (let row = 0; row < heads * TOKENS; row++) {
      const query = row % TOKENS;
      let sum = 0;
      for (let key = 0; key < TOKENS; key++) {
        const p = data[row * TOKENS + key];
        sum += p;
        if (key > query) assert.equal(p, 0, `${tap.node}: row ${row} key ${key} above the diagonal`);
      }
      assert.ok(Math.abs(sum - 1) <= 1e-5, `${tap.node}: row ${row} sums to ${sum}`);
    }
  }
  assert.deepEqual(plan.residual.map((tap) => tap.label), [
    'decoder embedding + positions', 'decoder L0 + self-attention', 'decoder L0 + feed-forward', 'decoder L1 + self-attention', 'decoder L1 + feed-forward',
  ]);
  for (const tap of plan.residual) assert.deepEqual(outputs[tap.output].dims, [1, TOKENS], `${tap.label}: one norm per token`);
  return { plan, outputs, logits };
}

/** Max |Δp| between the blocks of two tapped runs. */
function probsDiff(a: Tapped, b: Tapped): number {
  return Math.max(...a.plan.attention.map((tap, index) => maxAbsDiff(a.outputs[tap.output].data as Float32Array, b.outputs[b.plan.attention[index].output].data as Float32Array)));
}

// The genai builder's int4 model wraps GroupQueryAttention in its MatMulNBits projections; tracing it needs the rewrite.
const rewriteMissing = GROUP_QUERY_REWRITERS.length === 0 ? 'waits for the GroupQueryAttention rewrite (fusedGroupQuery.ts)' : false;

const CASES: { title: string; options: QuantizedDecoderOptions; exact: boolean; skip?: string | false }[] = [
  { title: 'quantize_dynamic: DynamicQuantizeLinear → MatMulInteger (int8 weights, per tensor) → Cast → Mul by the scales', options: { projection: 'dynamic-int8' }, exact: false },
  { title: 'quantize_dynamic per channel (a scale and zero point per output column)', options: { projection: 'dynamic-int8', perChannel: true }, exact: false },
  { title: 'MatMulNBits int4 with packed zero points (block 16)', options: { projection: 'int4' }, exact: true },
  { title: 'MatMulNBits int4, symmetric (no zero_points: the default 8), K = 40 not a multiple of the block (3 blocks, one padded)', options: { projection: 'int4', symmetric: true, dModel: 40 }, exact: true },
  { title: 'MatMulNBits int4 with the genai builder\'s packed QKV (one projection, then Split; block 32)', options: { projection: 'int4', packedQkv: true, blockSize: 32 }, exact: true },
  { title: 'the genai builder\'s int4 model: MatMulNBits projections around com.microsoft GroupQueryAttention (2 KV heads)', options: { projection: 'int4', attention: 'group-query' }, exact: true, skip: rewriteMissing },
  { title: 'MatMulNBits packed QKV (Q | K | V of 2 KV heads) as GroupQueryAttention\'s query, key and value absent', options: { projection: 'int4', attention: 'group-query', packedQkv: true, blockSize: 32 }, exact: true, skip: rewriteMissing },
  { title: 'quantize_dynamic projections around GroupQueryAttention', options: { projection: 'dynamic-int8', attention: 'group-query' }, exact: false, skip: rewriteMissing },
  { title: 'static QDQ: QuantizeLinear → DequantizeLinear on activations, DequantizeLinear of int8 weights', options: { projection: 'qdq' }, exact: false },
];

describe('quantized weight products: the model runs and its float attention is found and tapped', () => {
  for (const { title, options, exact, skip } of CASES) {
    test(title, { skip: skip ?? false }, async (t) => {
      const built = quantizedDecoder(options);
      const fused = options.attention === 'group-query';
      const quantized = await tapAndCheck(built.model, built.heads, fused);
      // The same model with each weight dequantized: activations are not quantized there.
      const float = await tapAndCheck(built.dequantized, built.heads, fused);
      const logits = maxAbsDiff(quantized.logits, float.logits);
      const probs = probsDiff(quantized, float);
      t.diagnostic(`vs the dequantized twin: max |Δlogit| ${logits}, max |Δp| ${probs}`);
      if (exact) {
        // Only the weights are quantized: the packing is right if onnxruntime's kernel reads the weights we meant.
        assert.ok(logits <= 1e-5, `logits: max |Δ| = ${logits}`);
        assert.ok(probs <= 1e-5, `probabilities: max |Δ| = ${probs}`);
      } else {
        // Activations are quantized too (8 bits): close, not equal.
        assert.ok(probs <= 0.05, `probabilities: max |Δ| = ${probs}`);
      }
      assert.equal(quantized.plan.notes.filter((found) => found.code === 'no-scale').length, 0);
    });
  }

  for (const projection of ['int4', 'dynamic-int8'] as const) {
    // The rewrite's head size comes from MatMulNBits' N, or MatMulInteger's weights behind its Cast and
    // scale Mul (fusedGroupQueryOps.ts staticLastDim): without it the 1/√d scale is computed at run time
    // and reads as a multiplicative mask, with "no-scale".
    test(`Llama-style (no Q/K/V bias) ${projection} projections around GroupQueryAttention: traced, and its 1/√d scale found`, { skip: rewriteMissing }, async () => {
      const built = quantizedDecoder({ projection, attention: 'group-query', noQkvBias: true });
      const quantized = await tapAndCheck(built.model, built.heads, true);
      const float = await tapAndCheck(built.dequantized, built.heads, true);
      // int4 weights are dequantized exactly by the twin; dynamic int8 also quantizes activations: close, not equal.
      assert.ok(probsDiff(quantized, float) <= (projection === 'int4' ? 1e-5 : 0.05));
      assert.deepEqual(quantized.plan.notes.map((found) => found.code).filter((code) => code === 'no-scale' || code === 'multiplicative-mask'), []);
    });
  }

  test('the dequantizing Mul (x_scale · w_scale) is not taken for a 1/√d scale: unscaled scores are still reported', async () => {
    const built = quantizedDecoder({ projection: 'dynamic-int8', unscaled: true });
    const { plan } = analyzeAndTap(built.model);
    assert.equal(plan.notes.filter((found) => found.code === 'no-scale').length, 2);
  });
});

test('int4 packing: two codes a byte, lower k in the low nibble; zero points two a byte per row, padded', () => {
  // w [K = 4, N = 2] row-major; block 16 covers K (rows 4..15 padding).
  const w = Float32Array.from([0, 1, 1, 0.5, 2, 0, 3, -1.5]);
  const { b, scales, zeroPoints, dequantized } = packInt4(w, 4, 2, 16, false);
  assert.equal(b.length, 2 * 1 * 8);
  // Column 0 holds 0, 1, 2, 3: scale 3/15 = 0.2, zero point 0, codes 0, 5, 10, 15.
  assert.ok(Math.abs(scales[0] - 0.2) < 1e-7);
  assert.deepEqual([...b.subarray(0, 3)], [0 | (5 << 4), 10 | (15 << 4), 0]);
  assert.deepEqual([...zeroPoints!], [0, 9]); // column 1 spans −1.5..1: scale 2.5/15, zero point 1.5 / (2.5/15) = 9
  assert.deepEqual(Array.from({ length: 4 }, (_, k) => dequantized[k * 2]).map((value) => Math.round(value * 10) / 10), [0, 1, 2, 3]);
});

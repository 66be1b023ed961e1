/**
 * Value-weighted attention (Kobayashi et al. 2020): α[h,q,k] · ‖v_k^h W_O^h‖ per block. Checked
 * against numbers worked by hand (one block) and against a float64 forward pass written here, apart
 * from the reference model (a 2-layer decoder); then its relation to α on the trained model, and
 * that every form of the trace (JSON, binary, trace file, lazy reading) carries it.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { TraceFile, writeTraceFile } from '../../src/engine';
import { valueNorms, weightByValueNorms } from '../../src/engine/analysis/valueWeighted';
import type { TransformerConfig } from '../../src/engine/reference/config';
import { causalMask } from '../../src/engine/reference/masks';
import { fromRows } from '../../src/engine/reference/matrix';
import { MultiHeadAttention } from '../../src/engine/reference/multiHeadAttention';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore, type WeightSource } from '../../src/engine/reference/weights';
import { neverCancelled } from '../../src/shared/errors';
import { cachedBlocks, lazyOverview, lazyTrace } from '../../src/shared/lazyTrace';
import { traceLoadedMessage } from '../../src/shared/blockServer';
import type { AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { traceToJson } from '../../src/shared/traceJson';
import { parseCommandLine } from '../../src/cli/args';
import { formatSummary } from '../../src/cli/summary';
import { tempFolder } from '../support/tempFolders';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test('one block by hand: grouped values through each head\'s rows of W_O, W_O\'s bias left out, masked cells exactly 0', () => {
  // d = 2, two query heads of width 1 sharing one KV head. Queries and keys are all zero, so every
  // allowed score is 0 and α is uniform over the allowed keys: row 0 [1, 0], row 1 [.5, .5].
  const tensors: Record<string, number[]> = {
    'a.query.weight': [0, 0, 0, 0], 'a.query.bias': [0, 0],
    'a.key.weight': [0, 0], 'a.key.bias': [0],
    'a.value.weight': [1, 2], 'a.value.bias': [0.5],
    'a.output.weight': [1, 2, 3, 4], 'a.output.bias': [100, 100],
  };
  const weights: WeightSource = { tensor: (name) => Float32Array.from(tensors[name]) };
  const attention = new MultiHeadAttention(weights, 'a', { dModel: 2, heads: 2, kvHeads: 1 });
  const x = fromRows([[1, 0], [0, 1]]);
  const result = attention.forward(x, x, causalMask(2), undefined, true);
  // v_k = x_k · [1, 2] + 0.5: v_0 = 1.5, v_1 = 2.5 (the bias counts: it is part of the value).
  // W_O is [out, in] = [[1, 2], [3, 4]]: head 0 reads input column 0 → W_O^0 = [1, 3], ‖·‖ = √10 = 3.16228;
  // head 1 reads column 1 → W_O^1 = [2, 4], ‖·‖ = √20 = 4.47214. The bias [100, 100] is no head's.
  // ‖v_k W_O^h‖: h0 [1.5·3.16228, 2.5·3.16228] = [4.74342, 7.90569]; h1 [1.5·4.47214, 2.5·4.47214] = [6.70820, 11.18034].
  // Times α: h0 rows [4.74342, 0], [2.37171, 3.95285]; h1 rows [6.70820, 0], [3.35410, 5.59017].
  assert.ok(result.valueWeighted);
  assertClose(result.valueWeighted, [4.74342, 0, 2.37171, 3.95285, 6.70820, 0, 3.35410, 5.59017], 1e-5, 'valueWeighted');
  assert.equal(result.valueWeighted[1], 0, 'the masked cell is exactly 0');
  assert.equal(attention.forward(x, x, causalMask(2)).valueWeighted, undefined, 'not computed unless asked');
});

/** A 2-layer pre-LN decoder, d = 4, 2 heads; seeded weights with every bias and norm made non-trivial. */
const TINY: TransformerConfig = {
  kind: 'decoder', vocabSize: 8, dModel: 4, heads: 2, dFF: 8, encoderLayers: 0, decoderLayers: 2,
  normPlacement: 'pre', activation: 'relu', scaleEmbedding: false, layerNormEpsilon: 1e-5,
};

function tinyWeights(): WeightSource {
  const seeded = WeightStore.fromSeed(TINY, 3);
  return {
    tensor(name, shape) {
      const values = seeded.tensor(name, shape).slice();
      // Seeded biases are 0 and gains 1: give them values, so a bias left out would show.
      if (name.endsWith('.bias') || name.includes('norm')) for (let i = 0; i < values.length; i++) values[i] += 0.3 * Math.sin(7 * i + name.length);
      return values;
    },
  };
}

/** The same model in float64, written here from the equations: each layer's α and α·‖v W_O‖. */
function float64Forward(weights: WeightSource, ids: number[]): Array<{ probs: number[]; weighted: number[] }> {
  const d = TINY.dModel;
  const heads = TINY.heads;
  const dk = d / heads;
  const T = ids.length;
  const get = (name: string, shape: number[]): number[] => Array.from(weights.tensor(name, shape));
  const table = get('embedding.weight', [TINY.vocabSize, d]);
  let x = ids.map((id, pos) => Array.from({ length: d }, (_, i) => table[id * d + i] + (i % 2 === 0 ? Math.sin(pos / 10000 ** ((2 * Math.floor(i / 2)) / d)) : Math.cos(pos / 10000 ** ((2 * Math.floor(i / 2)) / d)))));
  const norm = (rows: number[][], name: string): number[][] => {
    const g = get(`${name}.weight`, [d]);
    const b = get(`${name}.bias`, [d]);
    return rows.map((row) => {
      const mean = row.reduce((s, v) => s + v, 0) / d;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
      return row.map((v, i) => ((v - mean) / Math.sqrt(variance + TINY.layerNormEpsilon)) * g[i] + b[i]);
    });
  };
  const affine = (rows: number[][], name: string, out: number, inn: number): number[][] => {
    const w = get(`${name}.weight`, [out, inn]);
    const b = get(`${name}.bias`, [out]);
    return rows.map((row) => Array.from({ length: out }, (_, o) => row.reduce((s, v, i) => s + v * w[o * inn + i], b[o])));
  };
  const layers: Array<{ probs: number[]; weighted: number[] }> = [];
  for (let layer = 0; layer < TINY.decoderLayers; layer++) {
    const prefix = `decoder.layers.${layer}`;
    const input = norm(x, `${prefix}.norm_self_attention`);
    const q = affine(input, `${prefix}.self_attention.query`, d, d);
    const k = affine(input, `${prefix}.self_attention.key`, d, d);
    const v = affine(input, `${prefix}.self_attention.value`, d, d);
    const wo = get(`${prefix}.self_attention.output.weight`, [d, d]);
    const probs: number[] = [];
    const weighted: number[] = [];
    const concat = x.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < heads; h++) {
      // ‖v_k^h W_O^h‖: the head's value slice through the columns of W_O ([out, in]) it feeds.
      const valueNorm = v.map((row) => Math.sqrt(Array.from({ length: d }, (_, o) => {
        let sum = 0;
        for (let c = 0; c < dk; c++) sum += row[h * dk + c] * wo[o * d + h * dk + c];
        return sum * sum;
      }).reduce((a, b) => a + b, 0)));
      for (let i = 0; i < T; i++) {
        const scores = Array.from({ length: T }, (_, j) => (j > i ? -Infinity : Array.from({ length: dk }, (_, c) => q[i][h * dk + c] * k[j][h * dk + c]).reduce((a, b) => a + b, 0) / Math.sqrt(dk)));
        const max = Math.max(...scores);
        const exps = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - max)));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j < T; j++) {
          const alpha = exps[j] / total;
          probs.push(alpha);
          weighted.push(alpha * valueNorm[j]);
          for (let c = 0; c < dk; c++) concat[i][h * dk + c] += alpha * v[j][h * dk + c];
        }
      }
    }
    const attended = affine(concat, `${prefix}.self_attention.output`, d, d);
    x = x.map((row, i) => row.map((value, c) => value + attended[i][c]));
    const hidden = affine(norm(x, `${prefix}.norm_feed_forward`), `${prefix}.feed_forward.fc1`, TINY.dFF, d).map((row) => row.map((value) => Math.max(0, value)));
    const fed = affine(hidden, `${prefix}.feed_forward.fc2`, d, TINY.dFF);
    x = x.map((row, i) => row.map((value, c) => value + fed[i][c]));
    layers.push({ probs, weighted });
  }
  return layers;
}

test('2-layer decoder: the reference model\'s value-weighted attention equals a float64 computation within 1e-5', () => {
  const weights = tinyWeights();
  const ids = [1, 5, 2, 7, 3];
  const output = new Transformer(TINY, weights).forward({ decoderIds: ids }, neverCancelled, false, false, undefined, true);
  const expected = float64Forward(weights, ids);
  assert.equal(output.blocks.length, 2);
  for (const [layer, block] of output.blocks.entries()) {
    assertClose(block.probs, expected[layer].probs, 1e-5, `layer ${layer} probs`);
    assert.ok(block.valueWeighted, `layer ${layer} has valueWeighted`);
    assertClose(block.valueWeighted, expected[layer].weighted, 1e-5, `layer ${layer} valueWeighted`);
    // The norms are not 1: the view differs from α, or the test would prove nothing.
    assert.ok(expected[layer].weighted.some((value, i) => Math.abs(value - expected[layer].probs[i]) > 0.05));
  }
  const plain = new Transformer(TINY, weights).forward({ decoderIds: ids }, neverCancelled);
  assert.ok(plain.blocks.every((block) => block.valueWeighted === undefined), 'absent unless asked for');
});

test('valueNorms reads [kvHeads, K, d_k] values and an [in, out] W_O (the ONNX layouts) as it reads the reference\'s', () => {
  // Same numbers as the hand-worked block, laid out as a graph holds them.
  const norms = valueNorms(
    { data: [1.5, 2.5], headStride: 2, keyStride: 1 },
    { data: [1, 3, 2, 4], inFeatures: 2, outFeatures: 2, inStride: 2, outStride: 1 },
    { heads: 2, headWidth: 1, keys: 2, kvHeadOf: [0, 0] },
  );
  assertClose(norms, [4.74342, 7.90569, 6.70820, 11.18034], 1e-5, 'norms');
  assertClose(weightByValueNorms(Float32Array.from([1, 0, 0.5, 0.5]), Float32Array.from([2, 3]), 1, 2, 2), [2, 0, 1, 1.5], 0, 'weighted');
});

const engine = new ExplainEngine(null);
let trained: AttentionTrace | undefined;
async function trainedTrace(): Promise<AttentionTrace> {
  trained ??= await engine.explain('The cat sat on the mat. The cat sat.', { model: 'builtin:trained-decoder', valueWeighted: true });
  return trained;
}

test('trained model: zero exactly where α is zero, and per head and key one norm for every query', async () => {
  const trace = await trainedTrace();
  assert.ok(!trace.notices.some((found) => found.code === 'value-weighted-unavailable'));
  for (const block of trace.blocks) {
    const weighted = block.valueWeighted;
    assert.ok(weighted, `layer ${block.layer} has valueWeighted`);
    assert.equal(weighted.length, block.probs.length);
    for (let head = 0; head < block.heads; head++) {
      for (let key = 0; key < block.keys; key++) {
        let ratio: number | null = null;
        for (let query = 0; query < block.queries; query++) {
          const at = (head * block.queries + query) * block.keys + key;
          if (block.probs[at] === 0) {
            assert.equal(weighted[at], 0, `L${block.layer} h${head} q${query} k${key}: α is 0`);
            if (block.mask) assert.ok(block.mask[query * block.keys + key] === 0 || key <= query);
            continue;
          }
          assert.ok(weighted[at] > 0);
          // α · ‖v_k W_O‖: the same factor on every query that sees key k.
          const r = weighted[at] / block.probs[at];
          if (ratio === null) ratio = r;
          else assert.ok(Math.abs(r - ratio) <= 1e-4 * ratio, `L${block.layer} h${head} k${key}: ratio ${r} vs ${ratio}`);
        }
      }
    }
    // Every masked (future) cell is one of those exact zeros.
    for (let query = 0; query < block.queries; query++) for (let key = query + 1; key < block.keys; key++) assert.equal(weighted[query * block.keys + key], 0);
  }
});

test('JSON, binary, trace file (F32 and F16) and lazy reading carry valueWeighted; the overview does not', async () => {
  const trace = await trainedTrace();
  const json = traceToJson(trace);
  json.blocks.forEach((block, index) => {
    assert.ok(block.valueWeighted, 'JSON block has valueWeighted');
    assert.deepEqual(Float32Array.from(block.valueWeighted.map((value) => value ?? Number.NaN)), trace.blocks[index].valueWeighted);
  });
  const decoded = decodeTrace(encodeTrace(trace));
  decoded.blocks.forEach((block, index) => assert.deepEqual(block.valueWeighted, trace.blocks[index].valueWeighted));

  const folder = tempFolder('al-value-weighted-');
  for (const half of [false, true]) {
    const file = path.join(folder, `t${half ? 16 : 32}.attn.safetensors`);
    await writeTraceFile(file, lazyTrace(trace), { half });
    const opened = await TraceFile.open(file);
    try {
      assert.ok(opened.blocks.every((block) => block.hasValueWeighted === true));
      for (let index = 0; index < trace.blocks.length; index++) {
        const block = await cachedBlocks(opened, 2 ** 20).readBlock(index);
        assert.ok(block.valueWeighted);
        if (half) assertClose(block.valueWeighted, trace.blocks[index].valueWeighted ?? [], 2e-3 * 16, `F16 block ${index}`);
        else assert.deepEqual(block.valueWeighted, trace.blocks[index].valueWeighted);
      }
      assert.ok(lazyOverview(opened).blocks.every((block) => !('valueWeighted' in block) && !('hasValueWeighted' in block)));
    } finally {
      await opened.close();
    }
  }
  assert.ok(traceLoadedMessage(1, trace).message.trace.blocks.every((block) => !('valueWeighted' in block)), 'the overview carries no block arrays');

  // A trace without it writes no such tensor and reads back without it.
  const plain = await engine.explain('The cat.', { model: 'builtin:tiny-decoder' });
  const file = path.join(folder, 'plain.attn.safetensors');
  await writeTraceFile(file, lazyTrace(plain));
  const opened = await TraceFile.open(file);
  try {
    assert.ok(opened.blocks.every((block) => block.hasValueWeighted === undefined));
    assert.equal((await opened.readBlock(0)).valueWeighted, undefined);
  } finally {
    await opened.close();
  }
  assert.ok(traceToJson(plain).blocks.every((block) => !('valueWeighted' in block)));
});

test('an ONNX file (the built-in export, from disk) gets it from its value path, with no notice', async () => {
  const model = path.join(tempFolder('al-value-weighted-onnx-'), 'tiny.onnx');
  writeFileSync(model, (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 3 })).model);
  const onnx = await engine.explain('The cat.', { model, backend: 'wasm', threads: 1, valueWeighted: true });
  assert.equal(onnx.model.source, 'onnx');
  assert.ok(onnx.blocks.every((block) => block.valueWeighted), 'every block has it');
  assert.ok(!onnx.notices.some((found) => found.code === 'value-weighted-unavailable'));
});

test('CLI: --value-weighted is parsed, and the summary says per head where its strongest key moved', async () => {
  const request = parseCommandLine(['--value-weighted', 'The cat.']);
  assert.equal(request.kind, 'run');
  assert.equal(request.kind === 'run' && request.valueWeighted, true);
  const without = parseCommandLine(['The cat.']);
  assert.equal(without.kind === 'run' && without.valueWeighted, undefined);
  assert.throws(() => parseCommandLine(['--open', 'x.attn.safetensors', '--value-weighted']), /--value-weighted/);
  const summary = formatSummary(await trainedTrace());
  const lines = summary.split('\n').filter((line) => line.includes('value-weighted:'));
  assert.equal(lines.length, 3, summary);
  assert.match(lines[0], /h0 \d+\/\d+ {2}h1 \d+\/\d+ {2}h2 \d+\/\d+ {2}h3 \d+\/\d+$/);
});

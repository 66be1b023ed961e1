/**
 * Value-weighted attention of ONNX models: the value path (onnx/valuePath.ts) found in the built-in
 * exports (plain and with GroupQueryAttention fused), giving the reference model's numbers within
 * 1e-4; found in a GPT-2-style graph whose output projection is a Gemm after a Reshape to rank 2
 * (checked against a float64 computation here); and refused, with a reason in the notice, where the
 * heads are not merged as the pattern needs.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-web';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { addValueWeighted, valueWeightedNotice } from '../../src/engine/analysis/valueWeightedOnnx';
import { ElementType, GraphBuilder } from '../../src/engine/onnx/builder';
import { decodeModel, encodeModel } from '../../src/engine/onnx/model';
import type { HostTensor } from '../../src/engine/onnx/sessionTypes';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import { readTaps } from '../../src/engine/onnx/traceFromRun';
import { runModel } from '../support/fusedGraphs';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine(null);
const TEXT = 'The cat sat on the mat. The cat sat.';

function maxDifference(a: Float32Array | undefined, b: Float32Array | undefined): number {
  assert.ok(a && b && a.length === b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

for (const model of ['builtin:trained-decoder', 'builtin:tiny-encdec', 'builtin:tiny-modern']) {
  test(`${model} through its ONNX export gives the reference model's value-weighted attention within 1e-4`, async () => {
    const reference = await engine.explain(TEXT, { model, backend: 'reference', valueWeighted: true });
    const onnx = await engine.explain(TEXT, { model, backend: 'wasm', threads: 1, valueWeighted: true });
    assert.equal(onnx.backend, 'wasm');
    assert.ok(!onnx.notices.some((found) => found.code === 'value-weighted-unavailable'), JSON.stringify(onnx.notices));
    assert.equal(onnx.blocks.length, reference.blocks.length);
    onnx.blocks.forEach((block, index) => {
      const worst = maxDifference(block.valueWeighted, reference.blocks[index].valueWeighted);
      assert.ok(worst <= 1e-4, `block ${index} (layer ${block.layer} ${block.kind}): ${worst}`);
    });
    // Not asked for: not computed, and V is not fetched.
    const plain = await engine.explain(TEXT, { model, backend: 'wasm', threads: 1 });
    assert.ok(plain.blocks.every((block) => block.valueWeighted === undefined));
  });
}

test('the export with GroupQueryAttention fused (rewritten into primitives) gives the same within 1e-4', async () => {
  const file = path.join(tempFolder('al-vw-fused-'), 'modern-fused.onnx');
  writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-modern', seed: 0, attention: 'fused' })).model);
  const reference = await engine.explain(TEXT, { model: 'builtin:tiny-modern', backend: 'reference', valueWeighted: true });
  const onnx = await engine.explain(TEXT, { model: file, backend: 'wasm', threads: 1, valueWeighted: true });
  assert.ok(!onnx.notices.some((found) => found.code === 'value-weighted-unavailable'), JSON.stringify(onnx.notices));
  onnx.blocks.forEach((block, index) => assert.ok(maxDifference(block.valueWeighted, reference.blocks[index].valueWeighted) <= 1e-4));
});

/** Deterministic small numbers for weights and inputs. */
function numbers(count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.8);
}

const D = 4;
const HEADS = 2;
const WIDTH = D / HEADS;
const T = 3;

/**
 * One GPT-2-style attention block on x [1, T, 4]: Q, K, V as MatMul + Add, heads split by Reshape
 * and Transpose, α·V merged back by Transpose(0,2,1,3) and Reshape, then (as GPT-2's Conv1D
 * exports write it) Reshape to [T, 4] and Gemm with W_O. `mergePerm` changes how the heads are merged.
 */
function gpt2Block(mergePerm = [0, 2, 1, 3]): { model: ReturnType<GraphBuilder['build']>; weights: Record<string, number[]> } {
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, [1, T, D]);
  const weights: Record<string, number[]> = { q: numbers(16, 1), k: numbers(16, 2), v: numbers(16, 3), bv: numbers(4, 4), o: numbers(16, 5), bo: numbers(4, 6) };
  const split = (name: string, bias: number[]): string => {
    const projected = g.op('Add', [g.op('MatMul', [x, g.floatTensor(`${name}.w`, [D, D], weights[name])], `${name}.mm`), g.floatTensor(`${name}.b`, [D], bias)], `${name}.add`);
    const heads = g.op('Reshape', [projected, g.int64Tensor('heads_shape', [4], [1, -1, HEADS, WIDTH])], `${name}.heads`);
    return g.op('Transpose', [heads], `${name}.t`, { perm: [0, 2, 1, 3] });
  };
  const q = split('q', [0, 0, 0, 0]);
  const k = split('k', [0, 0, 0, 0]);
  const v = split('v', weights.bv);
  const scores = g.op('Div', [g.op('MatMul', [q, g.op('Transpose', [k], 'kT', { perm: [0, 1, 3, 2] })], 'scores'), g.floatTensor('scale', [], [Math.SQRT2])], 'scaled');
  const probs = g.op('Softmax', [scores], 'probs', { axis: -1 });
  const context = g.op('MatMul', [probs, v], 'context');
  const merged = g.op('Reshape', [g.op('Transpose', [context], 'merged', { perm: mergePerm }), g.int64Tensor('merge_shape', [3], [1, -1, D])], 'concat');
  const flat = g.op('Reshape', [merged, g.int64Tensor('flat_shape', [2], [-1, D])], 'flat');
  // Gemm with transB: W_O stored [out, in], as torch's addmm export of a Linear has it.
  const projected = g.op('Gemm', [flat, g.floatTensor('o.w', [D, D], weights.o), g.floatTensor('o.b', [D], weights.bo)], 'proj', { transB: 1 });
  const out = g.op('Add', [x, g.op('Reshape', [projected, g.int64Tensor('out_shape', [3], [1, -1, D])], 'proj3')], 'out');
  g.output(out, ElementType.FLOAT, [1, T, D]);
  return { model: g.build({ graphName: 'gpt2-block', opset: 17, producer: 'test' }), weights };
}

async function runTapped(model: ReturnType<GraphBuilder['build']>, x: number[]): Promise<{ tapped: ReturnType<typeof analyzeAndTap>; outputs: Record<string, HostTensor> }> {
  // Through bytes, as a model file arrives: decodeModel fills the lists a built proto leaves out.
  const tapped = analyzeAndTap(decodeModel(encodeModel(model)));
  const raw = await runModel(tapped.model, { x: new ort.Tensor('float32', Float32Array.from(x), [1, T, D]) });
  const outputs: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(raw)) outputs[name] = { type: 'float32', data: tensor.data as Float32Array, dims: tensor.dims };
  return { tapped, outputs };
}

test('a GPT-2-style block with a Gemm output projection: α · ‖v W_O‖ as computed here in float64', async () => {
  const { model, weights } = gpt2Block();
  const x = numbers(T * D, 7);
  const { tapped, outputs } = await runTapped(model, x);
  const { blocks } = readTaps(tapped.plan, outputs);
  assert.deepEqual(addValueWeighted(tapped.plan, outputs, blocks), []);
  // V = x·W_v + b_v ([in, out]); head h's W_O rows are input columns h·2..h·2+1 of o.w ([out, in]).
  const v = Array.from({ length: T }, (_, t) => Array.from({ length: D }, (_, o) => weights.bv[o] + Array.from({ length: D }, (_, i) => x[t * D + i] * weights.v[i * D + o]).reduce((a, b) => a + b, 0)));
  const block = blocks[0];
  for (let h = 0; h < HEADS; h++) {
    for (let key = 0; key < T; key++) {
      const projected = Array.from({ length: D }, (_, out) => Array.from({ length: WIDTH }, (_, c) => v[key][h * WIDTH + c] * weights.o[out * D + h * WIDTH + c]).reduce((a, b) => a + b, 0));
      const norm = Math.sqrt(projected.reduce((a, b) => a + b * b, 0));
      for (let query = 0; query < T; query++) {
        const at = (h * T + query) * T + key;
        assert.ok(Math.abs((block.valueWeighted?.[at] ?? Number.NaN) - block.probs[at] * norm) <= 1e-5, `h${h} q${query} k${key}`);
      }
    }
  }
});

test('heads merged another way: no value-weighted attention, and the notice says why', async () => {
  const { model } = gpt2Block([0, 1, 2, 3]);
  const { tapped, outputs } = await runTapped(model, numbers(T * D, 7));
  const { blocks } = readTaps(tapped.plan, outputs);
  const missing = addValueWeighted(tapped.plan, outputs, blocks);
  assert.equal(blocks[0].valueWeighted, undefined);
  assert.equal(missing.length, 1);
  assert.match(missing[0], /perm \[0, 1, 2, 3\]/);
  const found = valueWeightedNotice(missing, blocks.length);
  assert.equal(found?.code, 'value-weighted-unavailable');
  assert.match(found?.message ?? '', /missing for 1 of 1 blocks: block 0 \(layer 0 /);
});

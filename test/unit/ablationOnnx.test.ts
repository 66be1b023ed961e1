/**
 * Head ablation on ONNX models: the gates are graph inputs of the loaded session (no new session
 * per ablation), gates fed open change nothing (KL exactly 0), and the reference model and its ONNX
 * export give the same KL per position (1e-4) and the same attention changes, for zero and mean
 * ablation, on decoders, an encoder, an encoder-decoder (each kind of block) and a fused
 * GroupQueryAttention export (ablated through its rewrite).
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { onnxAblation } from '../../src/engine/analysis/ablationOnnx';
import { idTextOf } from '../../src/engine/analysis/topTokens';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { gateFeeds } from '../../src/engine/onnx/headGate';
import { decodeModel, encodeModel, graphOf } from '../../src/engine/onnx/model';
import { loadOnnxModel } from '../../src/engine/onnx/onnxModel';
import { readTaps, tapOutputNames } from '../../src/engine/onnx/traceFromRun';
import type { AblationTarget } from '../../src/engine/options';
import { neverCancelled, UserFacingError } from '../../src/shared/errors';
import type { AblationResult } from '../../src/shared/trace';
import { tempFolder } from '../support/tempFolders';

const engine = new ExplainEngine(null);
const work = tempFolder('attention-lens-ablation-onnx-');
const TEXT = 'the cat sat on the mat; the cat sat on the mat.';

function assertSameAblation(onnx: AblationResult | undefined, reference: AblationResult | undefined, what: string): void {
  assert.ok(onnx && reference, `${what}: both have an ablation`);
  assert.deepEqual(onnx.heads, reference.heads, `${what}: heads`);
  assert.equal(onnx.kl?.length, reference.kl?.length, `${what}: positions`);
  const worst = Math.max(...(reference.kl ?? []).map((kl, position) => Math.abs(kl - (onnx.kl?.[position] ?? Number.NaN))));
  assert.ok(worst <= 1e-4, `${what}: max |ΔKL| ${worst}`);
  assert.ok((reference.kl ?? []).some((kl) => kl > 1e-3), `${what}: the ablation changed something`);
  assert.deepEqual(onnx.blocks.map((change) => change.blockIndex), reference.blocks.map((change) => change.blockIndex), `${what}: blocks`);
  onnx.blocks.forEach((change, index) => {
    const expected = reference.blocks[index];
    assert.ok(Math.abs(change.maxAbs - expected.maxAbs) <= 1e-4, `${what}: block ${change.blockIndex} max |Δ| ${change.maxAbs} vs ${expected.maxAbs}`);
    change.meanAbs.forEach((mean, head) => assert.ok(Math.abs(mean - expected.meanAbs[head]) <= 1e-5, `${what}: block ${change.blockIndex} head ${head}`));
  });
}

describe('reference and ONNX export give the same ablation', () => {
  const cases: Array<{ preset: string; ablate: AblationTarget[] }> = [
    { preset: 'trained-decoder', ablate: [{ layer: 0, head: 3 }] },
    { preset: 'trained-decoder', ablate: [{ layer: 1, head: 0 }, { layer: 0, head: 2 }] },
    { preset: 'tiny-modern', ablate: [{ layer: 0, head: 1 }] },
    { preset: 'tiny-encoder', ablate: [{ layer: 1, head: 2 }] },
    { preset: 'tiny-encdec', ablate: [{ kind: 'encoder-self', layer: 0, head: 0 }, { kind: 'decoder-self', layer: 0, head: 1 }, { kind: 'cross', layer: 0, head: 2 }] },
  ];
  for (const { preset, ablate } of cases) {
    for (const mode of ['zero', 'mean'] as const) {
      test(`${preset} ${mode} ${ablate.map((target) => `${target.kind ?? ''}${target.layer}.${target.head}`).join(' ')}: KL per position within 1e-4`, async () => {
        const options = { model: `builtin:${preset}`, ablate, ablateMode: mode };
        const reference = await engine.explain(TEXT, { ...options, backend: 'reference' });
        const onnx = await engine.explain(TEXT, { ...options, backend: 'wasm' });
        assert.equal(onnx.backend, 'wasm');
        assert.equal(onnx.ablation?.mode, mode);
        assertSameAblation(onnx.ablation, reference.ablation, `${preset} ${mode}`);
      });
    }
  }

  test('a fused GroupQueryAttention export is ablated through its rewrite, as the reference', async () => {
    const file = path.join(work, 'tiny-modern-fused.onnx');
    writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-modern', attention: 'fused' })).model);
    const ablate = [{ layer: 1, head: 2 }];
    const onnx = await engine.explain(TEXT, { model: file, ablate });
    assert.ok(onnx.notices.some((notice) => notice.code === 'fused-rewritten'));
    const reference = await engine.explain(TEXT, { model: 'builtin:tiny-modern', backend: 'reference', ablate });
    assertSameAblation(onnx.ablation, reference.ablation, 'fused tiny-modern');
  });

  test('an ONNX file without a logits output: the attention changes alone, with a notice saying so', async () => {
    const model = decodeModel((await exportBuiltinModel({ model: 'builtin:trained-decoder' })).model, 'x.onnx');
    const graph = graphOf(model);
    // The LM head's output under a name no exporter gives logits: no predictions are read.
    for (const node of graph.node ?? []) node.output = (node.output ?? []).map((name) => (name === 'logits' ? 'head_out' : name));
    for (const output of graph.output ?? []) if (output.name === 'logits') output.name = 'head_out';
    const file = path.join(work, 'no-logits.onnx');
    writeFileSync(file, encodeModel(model));
    const trace = await engine.explain(TEXT, { model: file, ablate: [{ layer: 0, head: 3 }] });
    assert.equal(trace.predictions, undefined);
    assert.equal(trace.ablation?.kl, undefined);
    assert.ok(trace.notices.some((notice) => notice.code === 'ablation-attention-only'));
    const reference = await engine.explain(TEXT, { backend: 'reference', ablate: [{ layer: 0, head: 3 }] });
    assert.ok(trace.ablation && reference.ablation);
    trace.ablation.blocks.forEach((change, index) => assert.ok(Math.abs(change.maxAbs - (reference.ablation?.blocks[index].maxAbs ?? Number.NaN)) <= 1e-4));
  });

  test('an ONNX file: a head it lacks is refused with code invalid-ablate', async () => {
    const file = path.join(work, 'tiny-decoder.onnx');
    writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model);
    await assert.rejects(engine.explain(TEXT, { model: file, ablate: [{ layer: 0, head: 4 }] }), (error: unknown) => error instanceof UserFacingError && error.code === 'invalid-ablate' && /decoder-self layers 0-2 with heads 0-3/.test(error.message));
  });
});

describe('the gates are inputs of the one session', () => {
  test('every tapped Softmax has its gate inputs; gates fed open change nothing: KL exactly 0', async () => {
    const exported = await exportBuiltinModel({ model: 'builtin:trained-decoder' });
    const model = await loadOnnxModel({ path: 'trained-decoder.onnx', bytes: exported.model }, { backend: 'wasm', threads: 1 });
    try {
      assert.equal(model.plan.attention.length, 3);
      for (const tap of model.plan.attention) {
        assert.ok(tap.gate, 'gated');
        assert.ok(model.session.inputNames.includes(tap.gate.scale) && model.session.inputNames.includes(tap.gate.mean));
        assert.equal(tap.gate.headAxis, tap.layout === 'BHQK' ? 1 : tap.gate.headAxis);
      }
      const ids = [...Buffer.from(TEXT)].map((byte) => BigInt(byte + 4));
      const idsInput = model.inputs[0].name;
      const feeds = { [idsInput]: { type: 'int64' as const, data: BigInt64Array.from(ids), dims: [1, ids.length] }, ...gateFeeds(model.plan) };
      const logitsName = model.session.outputNames.find((name) => /logits$/.test(name)) ?? '';
      const outputs = await model.session.run(feeds, [...tapOutputNames(model.plan), logitsName]);
      const blocks = readTaps(model.plan, outputs).blocks;
      const original = { feeds, blocks, logits: { name: logitsName, tensor: outputs[logitsName], stream: 'decoder' as const }, passes: { groups: [[0, 1, 2]], budgetBytes: Number.POSITIVE_INFINITY } };
      const nothing = await onnxAblation(model, original, { targets: [], mode: 'zero' }, idTextOf(model.tokenizer), neverCancelled);
      assert.equal(nothing.kl?.length, ids.length);
      assert.ok(nothing.kl?.every((kl) => kl === 0), `KL ${Math.max(...(nothing.kl ?? []))}`);
      assert.deepEqual(nothing.changedTop, []);
      // The same session, other gate values: a real ablation.
      const one = await onnxAblation(model, original, { targets: [{ layer: 0, head: 3 }], mode: 'zero' }, idTextOf(model.tokenizer), neverCancelled);
      assert.ok((one.kl ?? []).reduce((sum, kl) => sum + kl, 0) / ids.length > 0.01);
    } finally {
      await model.session.release();
    }
  });
});

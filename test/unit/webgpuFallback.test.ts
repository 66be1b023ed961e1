/**
 * WebGPU made unavailable (the Vulkan loader pointed at an ICD file that does not exist, set before
 * Dawn starts, so this file runs in its own process as node:test runs every file): `auto` and even
 * an explicit `webgpu` run WASM, and the trace says so in one line. Never a failed run.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { probeWebGpu } from '../../src/engine/onnx/webgpu';

process.env.VK_ICD_FILENAMES = path.join(tmpdir(), 'attention-lens-no-such-icd.json');
// These tests weigh WebGPU against WASM: `auto` would pick native CPU (nativeBackend.test.ts tests
// that), so onnxruntime-node is switched off here (read at the first session, src/engine/onnx/nativeRuntime.ts).
process.env.ATTENTION_LENS_NATIVE_BINDING = 'none';

const workDir = mkdtempSync(path.join(tmpdir(), 'al-webgpu-off-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
const engine = new ExplainEngine();

test('with no adapter, auto and webgpu both run WASM and say why', async () => {
  const probe = await probeWebGpu();
  assert.equal(probe.available, false, 'the adapter is gone');
  const file = path.join(workDir, 'tiny-decoder.onnx');
  writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 2 })).model);

  const auto = await engine.explain('The cat sat on the mat.', { model: file, backend: 'auto', threads: 1 });
  assert.equal(auto.backend, 'wasm');
  assert.equal(auto.adapter, undefined);
  // auto chose WASM: a choice note (a fact beside the backend); only \`webgpu\` asked for by name gets the fallback notice.
  assert.equal(auto.notices.filter((notice) => notice.code === 'backend-choice' && /WASM ran: WebGPU was not used because no WebGPU adapter was found/.test(notice.message)).length, 1, auto.notices.map((notice) => notice.message).join(' | '));
  assert.equal(auto.notices.filter((notice) => notice.code === 'backend').length, 0, auto.notices.map((notice) => notice.message).join(' | '));

  const forced = await engine.explain('The cat sat on the mat.', { model: file, backend: 'webgpu', threads: 1 });
  assert.equal(forced.backend, 'wasm');
  assert.ok(forced.notices.some((notice) => notice.code === 'backend' && /WebGPU is not available here \(no WebGPU adapter was found.*\), so WASM ran instead\./.test(notice.message)), forced.notices.map((notice) => notice.message).join(' | '));
  // Same numbers as a plain WASM run.
  const wasm = await engine.explain('The cat sat on the mat.', { model: file, backend: 'wasm', threads: 1 });
  forced.blocks.forEach((block, b) => assert.deepEqual(block.probs, wasm.blocks[b].probs));
});

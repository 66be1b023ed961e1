/**
 * Trace files and Python: scripts/attention_lens_dump.py (numpy only) writes a file that the CLI
 * opens (`dist/cli.js --open`, built by npm test before the unit tests) and that reads back the
 * values it was given; numpy reads a file of ours at its header's offsets and gets our values.
 * Debian's python3-numpy is installed by npm test's prerequisites; without it these fail, naming it.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { lazyTrace, TraceFile, writeTraceFile } from '../../src/engine';
import { tempFolder } from '../support/tempFolders';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const scripts = path.join(root, 'scripts');
const work = tempFolder('trace-file-python-');
const engine = new ExplainEngine(null);

/** Debian's python3 (the prerequisites install python3-numpy for it), else the one on PATH. */
function python(): string {
  const interpreter = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const probe = spawnSync(interpreter, ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    assert.fail(`${interpreter} cannot import numpy (${probe.error?.message ?? probe.stderr.trim()}): install Debian's python3-numpy (npm test's prerequisites step does: apt-get install python3-numpy)`);
  }
  return interpreter;
}

/** Causal softmax weights for `layers` layers of [heads, tokens, tokens], seeded, as Python writes them. */
const WRITE_SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from attention_lens_dump import save_attention
rng = np.random.default_rng(7)
tokens = ["The", "Ġcat", "Ġsat", "Ġon", "Ġthe", "Ġmat", "."]
n = len(tokens)
layers = []
for layer in range(3):
    scores = rng.standard_normal((1, 4, n, n)).astype(np.float32)
    scores = np.where(np.tril(np.ones((n, n))) == 1, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    layers.append((weights / weights.sum(-1, keepdims=True)).astype(np.float32))
class Tensor:  # what a PyTorch tensor offers: .detach().float().cpu().numpy()
    def __init__(self, array): self.array = array
    def detach(self): return self
    def float(self): return self
    def cpu(self): return self
    def numpy(self): return self.array
size = save_attention(sys.argv[2], tuple(Tensor(layer) for layer in layers), tokens, model_name="numpy-toy")
np.savez(sys.argv[3], **{f"attention_{i}": layer[0] for i, layer in enumerate(layers)}, tokens=np.array(tokens))
print(json.dumps({"size": size, "layers": [[float(v) for v in layer.ravel()] for layer in layers]}))
`;

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('attention_lens_dump.py writes a trace file that --open prints and that reads back its values', async () => {
  const interpreter = python();
  const file = path.join(work, 'numpy.attn.safetensors');
  const npz = path.join(work, 'weights.npz');
  const written = spawnSync(interpreter, ['-c', WRITE_SCRIPT, scripts, file, npz], { encoding: 'utf8' });
  assert.equal(written.status, 0, written.stderr);
  const { layers } = JSON.parse(written.stdout) as { size: number; layers: number[][] };

  const opened = runCli(['--open', file]);
  assert.equal(opened.status, 0, opened.stderr);
  assert.match(opened.stdout, /^numpy-toy: decoder, 3 decoder layers x 4 heads, d_model=\?/);
  assert.match(opened.stdout, /decoder tokens \(7, given by the writer, selection\): The Ġcat Ġsat Ġon Ġthe Ġmat \./);
  assert.match(opened.stdout, /layer 2 decoder-self \[4 heads x 7 queries x 7 keys\], mask: causal/);

  const trace = await TraceFile.open(file);
  try {
    assert.equal(trace.skeleton.model.source, 'external');
    for (const [index, values] of layers.entries()) {
      const block = await trace.readBlock(index);
      assert.deepEqual(block.probs, Float32Array.from(values), `layer ${index}`);
      assert.equal(block.mask?.[1], 0, 'the causal mask blocks the future');
    }
  } finally {
    await trace.close();
  }

  // The script's own command line, on an .npz, with half-precision attention.
  const half = path.join(work, 'npz.attn.safetensors');
  const converted = spawnSync(interpreter, [path.join(scripts, 'attention_lens_dump.py'), npz, half, '--model-name', 'from-npz', '--half'], { encoding: 'utf8' });
  assert.equal(converted.status, 0, converted.stderr);
  const json = runCli(['--open', half, '--json', '-']);
  assert.equal(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { model: { name: string }; blocks: Array<{ probs: number[] }> };
  assert.equal(parsed.model.name, 'from-npz');
  parsed.blocks[0].probs.forEach((value, i) => assert.ok(Math.abs(value - layers[0][i]) <= Math.abs(layers[0][i]) * 2 ** -11 + 2 ** -25, `probs[${i}]`));
});

test('numpy reads a trace file at the offsets of its header and gets our values exactly', async () => {
  const interpreter = python();
  const trace = await engine.explain('numpy reads this', { model: 'builtin:tiny-encdec' });
  const file = path.join(work, 'ours.attn.safetensors');
  await writeTraceFile(file, lazyTrace(trace));
  const script = `
import json, struct, sys
import numpy as np
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
out = {}
for name, entry in header.items():
    if name == "__metadata__" or name.startswith("head_stats."):  # NaN (no induction row) is not JSON
        continue
    begin, end = entry["data_offsets"]
    dtype = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "U8": "u1"}[entry["dtype"]]
    array = np.frombuffer(data, dtype=dtype, count=(end - begin) // np.dtype(dtype).itemsize, offset=8 + n + begin).reshape(entry["shape"])
    out[name] = [float(v) for v in array.ravel()]
meta = json.loads(header["__metadata__"]["attention_lens"])
print(json.dumps({"tensors": out, "model": meta["model"]["name"], "schema": header["__metadata__"]["attention_lens_schema"]}))
`;
  const result = spawnSync(interpreter, ['-c', script, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  const read = JSON.parse(result.stdout) as { tensors: Record<string, number[]>; model: string; schema: string };
  assert.equal(read.model, trace.model.name);
  assert.equal(read.schema, '1');
  trace.blocks.forEach((block, index) => {
    assert.deepEqual(Float32Array.from(read.tensors[`attention.${index}`]), block.probs, `attention.${index}`);
    if (block.mask) assert.deepEqual(Uint8Array.from(read.tensors[`mask.${index}`]), block.mask);
  });
  trace.residual.forEach((step, index) => assert.deepEqual(Float32Array.from(read.tensors[`residual.${index}`]), step.norms));
});

/**
 * Prints ONNX Runtime's own verbose log of a WebGPU session's creation, which lists the nodes placed
 * on each execution provider ("Node(s) placed on [WebGpuExecutionProvider] ..."). Run as a child
 * process (the log goes straight to the process's stdout, past any JavaScript hook):
 *   node --import tsx test/support/nodePlacements.ts model.onnx
 * The model is tapped first, as the engine runs it.
 */
import { readFileSync } from 'node:fs';
import ort = require('onnxruntime-web/webgpu');
import { decodeModel, encodeModel } from '../../src/engine/onnx/model';
import { createSession } from '../../src/engine/onnx/runtime';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';

async function main(file: string): Promise<void> {
  const tapped = encodeModel(analyzeAndTap(decodeModel(readFileSync(file), file)).model);
  // The engine's own session first: it installs navigator.gpu and configures this WebGPU build.
  const session = await createSession(tapped, { backend: 'webgpu', threads: 1 });
  if (session.backend !== 'webgpu') throw new Error(`no WebGPU here: ${session.fallbackNote ?? ''}`);
  await session.release();
  ort.env.logLevel = 'verbose';
  const verbose = await ort.InferenceSession.create(tapped, { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel: 0 });
  await verbose.release();
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

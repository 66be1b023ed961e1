/**
 * @file The WebGPU survey's child process (bundled as dist/gpuSurvey.js, started by webgpu.ts
 * `surveyWebGpu`): loads Dawn, asks for an adapter, prints one line of JSON and exits. Dawn's own
 * driver warnings land on this process's stderr, which the parent drops.
 */
import { surveyHere, type WebGpuProbe } from './webgpu';

function answer(survey: WebGpuProbe): void {
  // Dawn keeps threads alive: leave as soon as the answer is out.
  process.stdout.write(`${JSON.stringify(survey)}\n`, () => process.exit(0));
}

surveyHere().then(answer, (error: unknown) => answer({ available: false, reason: error instanceof Error ? error.message : String(error) }));

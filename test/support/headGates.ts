/**
 * Tapped models have head-gate inputs (src/engine/onnx/headGate.ts) that ablation runs feed; tests
 * that run a tapped model with their own feeds add them open (scale 1, mean 0: nothing changes).
 */
import ort = require('onnxruntime-web');
import { openGateValue } from '../../src/engine/onnx/headGate';

/** `feeds` plus an open value for every gate input the session has and `feeds` lacks. */
export function withOpenGates(inputNames: readonly string[], feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const gates: Record<string, ort.Tensor> = {};
  for (const name of inputNames) {
    const value = openGateValue(name);
    if (value !== null && !(name in feeds)) gates[name] = new ort.Tensor('float32', Float32Array.of(value), [1]);
  }
  return { ...gates, ...feeds };
}

/**
 * @file The training loop: seeded init (the reference's, times the recipe's init scales), seeded
 * batches (shorter windows during the sequence-length warm-up, a share of them synthetic),
 * gradients over the engine's shards (with the auxiliary attention loss of supervised heads),
 * gradient clipping and AdamW with warm-up + cosine decay, and a loss curve with a quick held-out
 * estimate and head scores at every log point.
 */
import type { TransformerConfig } from '../../src/engine/reference/config';
import { AdamW } from './adamw';
import { BatchSampler, evaluationWindows, splitBatch } from './batches';
import { windowBatches } from './evaluate';
import type { GradientEngine } from './parallel';
import { ParameterLayout } from './parameters';
import { learningRateAt } from './schedule';
import type { TrainingRecipe } from './trainedModel';

export interface LossPoint {
  /** Steps done. */
  step: number;
  /** Mean training loss (nats per byte) over the steps since the previous point. */
  trainLoss: number;
  /** Mean auxiliary attention loss over the same steps (0 without supervision). */
  auxiliaryLoss: number;
  /** Loss on the first `quickEvalWindows` held-out windows (nats per byte). */
  heldOutLoss: number;
  learningRate: number;
  /** Gradient L2 norm before clipping, at the last step of the interval. */
  gradientNorm: number;
  elapsedSeconds: number;
  /** Best previous-token and induction scores at this point, when a probe was given. */
  heads?: { previousToken: number; induction: number };
}

/** Measures the heads of the current parameters (headProbe.ts on the reference model). */
export type HeadProbe = (params: Float64Array) => { previousToken: number; induction: number };

export interface TrainingResult {
  /** The final parameters (a copy), in the layout of ParameterLayout(config). */
  params: Float64Array;
  curve: LossPoint[];
  /** Training time, quick evaluations included. */
  seconds: number;
  tokensSeen: number;
}

/** Sequences and length of the batch at `step`, after the sequence-length warm-up. */
export function batchShapeAt(recipe: TrainingRecipe, step: number): { sequences: number; length: number } {
  const phase = recipe.lengthWarmup.find((candidate) => step < candidate.until);
  if (!phase) return { sequences: recipe.sequences, length: recipe.length };
  const sequences = (recipe.sequences * recipe.length) / phase.length;
  if (!Number.isInteger(sequences)) throw new Error(`warm-up length ${phase.length} does not divide ${recipe.sequences} x ${recipe.length} bytes`);
  return { sequences, length: phase.length };
}

export async function train(
  config: TransformerConfig, recipe: TrainingRecipe, trainStream: Uint16Array, heldOutStream: Uint16Array,
  engine: GradientEngine, onPoint: (point: LossPoint) => void = () => {}, probe?: HeadProbe,
): Promise<TrainingResult> {
  const started = performance.now();
  const layout = new ParameterLayout(config);
  layout.initialValues(recipe.seed, engine.params);
  for (const [name, scale] of Object.entries(recipe.initScales)) {
    const values = layout.view(engine.params, name);
    for (let i = 0; i < values.length; i++) values[i] *= scale;
  }
  const optimizer = new AdamW(layout, recipe.optimizer);
  const sampler = new BatchSampler(trainStream, recipe.seed, recipe.syntheticShare);
  const grads = new Float64Array(layout.size);
  const shardSequences = Math.ceil(recipe.sequences / recipe.shards);
  const quickWindows = evaluationWindows(heldOutStream, recipe.length, recipe.quickEvalWindows);
  const quickBatches = windowBatches(heldOutStream, quickWindows, recipe.length, shardSequences);
  const quickWeight = 1 / (quickWindows.length * recipe.length);
  const schedule = { peak: recipe.peakLearningRate, floor: recipe.finalLearningRate, warmupSteps: recipe.warmupSteps, totalSteps: recipe.steps };
  // Every step holds the same number of bytes, so the same weight makes each loss a mean.
  const weight = 1 / (recipe.sequences * recipe.length);
  const curve: LossPoint[] = [];
  let intervalLoss = 0;
  let intervalAuxiliary = 0;
  let intervalSteps = 0;
  for (let step = 0; step < recipe.steps; step++) {
    const batch = sampler.next(batchShapeAt(recipe, step));
    const supervise = recipe.supervisionSteps === null || step < recipe.supervisionSteps;
    const { loss, auxiliaryLoss } = await engine.gradients(splitBatch(batch, recipe.shards), weight, grads, supervise);
    if (!Number.isFinite(loss)) throw new Error(`the loss is ${loss} at step ${step}; lower the learning rate`);
    const learningRate = learningRateAt(schedule, step);
    const gradientNorm = optimizer.update(engine.params, grads, learningRate);
    intervalLoss += loss;
    intervalAuxiliary += auxiliaryLoss;
    intervalSteps++;
    if ((step + 1) % recipe.logEvery === 0 || step + 1 === recipe.steps) {
      const heldOutLoss = quickBatches.length > 0 ? await engine.loss(quickBatches, quickWeight) : Number.NaN;
      const point: LossPoint = {
        step: step + 1, trainLoss: intervalLoss / intervalSteps, auxiliaryLoss: intervalAuxiliary / intervalSteps, heldOutLoss, learningRate, gradientNorm,
        elapsedSeconds: (performance.now() - started) / 1000,
        ...(probe ? { heads: probe(engine.params) } : {}),
      };
      curve.push(point);
      onPoint(point);
      intervalLoss = 0;
      intervalAuxiliary = 0;
      intervalSteps = 0;
    }
  }
  return {
    params: engine.params.slice(),
    curve,
    seconds: (performance.now() - started) / 1000,
    tokensSeen: recipe.steps * recipe.sequences * recipe.length,
  };
}

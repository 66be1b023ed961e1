/**
 * @file The learning-rate schedule: linear warm-up from 0, then a cosine decay to a floor.
 * Warm-up keeps Adam's first, noisy second-moment estimates from taking huge steps; the decay
 * lets the last steps settle (nanoGPT's schedule).
 */

export interface LearningRateSchedule {
  /** Peak rate, reached at the end of warm-up. */
  peak: number;
  /** Rate at the last step. */
  floor: number;
  warmupSteps: number;
  totalSteps: number;
}

/** The rate for 0-based `step`. */
export function learningRateAt(schedule: LearningRateSchedule, step: number): number {
  const { peak, floor, warmupSteps, totalSteps } = schedule;
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}

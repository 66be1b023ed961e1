/**
 * @file The taps of one run fetched in several ONNX Runtime runs when all of them at once would not
 * fit: ONNX Runtime Web's memory stops at 4 GiB, and gpt2-shape's attention on 2048 tokens alone is
 * 2.4 GB. Each run is a session of the tapped graph cut to its blocks' outputs (the nodes up to the
 * last of those blocks); it hands them back as JavaScript arrays and is released, so the
 * WebAssembly memory is free for the next. The outputs are the same as one run's: the same graph
 * computes them from the same inputs.
 */
import type { StreamName } from '../../shared/trace';
import { planPasses, type TraceEstimate, wasmPassBytes } from '../traceEstimate';
import type { CancellationCheck } from '../../shared/errors';
import { feedsFor } from './inputs';
import type { LoadedOnnxModel } from './onnxModel';
import type { HostTensor } from './runtime';

export interface TapPasses {
  /** Indices into the plan's attention taps, one group per run; the residual taps go with the first. */
  groups: number[][];
  /** What one run may return, in bytes (Infinity: no bound). */
  budgetBytes: number;
}

/**
 * Tests and users on small machines can bound one run's outputs further:
 * `ATTENTION_LENS_PASS_MB` (any backend; the native backend has no bound otherwise).
 */
function passBudgetFromEnvironment(): number | null {
  const value = Number(process.env.ATTENTION_LENS_PASS_MB);
  return Number.isFinite(value) && value > 0 ? value * 2 ** 20 : null;
}

export function planTapPasses(model: LoadedOnnxModel, estimate: TraceEstimate, streamLength: (name: StreamName) => number): TapPasses {
  const known = model.plan.attention.map((tap) => tap.heads ?? tap.expectedHeads ?? null).filter((heads): heads is number => heads !== null && heads > 0);
  const fallbackHeads = known.length > 0 ? Math.min(...known) : 1;
  const tapBytes = model.plan.attention.map((tap) => {
    const cells = streamLength(tap.queryStream) * streamLength(tap.keyStream);
    // The mask comes back as float or bool: count it as float, the larger.
    return cells * 4 * (tap.heads ?? tap.expectedHeads ?? fallbackHeads) + (tap.mask ? cells * 4 : 0);
  });
  const environment = passBudgetFromEnvironment();
  const wasm = model.session.backend === 'native' ? Number.POSITIVE_INFINITY : wasmPassBytes(model.modelBytes, estimate.largestBlockValues);
  const budgetBytes = Math.min(wasm, environment ?? Number.POSITIVE_INFINITY);
  return { groups: planPasses(tapBytes, budgetBytes), budgetBytes };
}

/** Runs the model once per group, asking for that group's outputs (and the residual taps with the first). */
export async function runPasses(
  model: LoadedOnnxModel,
  feeds: Record<string, HostTensor>,
  passes: TapPasses,
  cancel: CancellationCheck,
  onPass: (pass: number) => void,
): Promise<Record<string, HostTensor>> {
  const attention = model.plan.attention;
  const residual = model.plan.residual.map((tap) => tap.output);
  if (passes.groups.length <= 1) {
    return model.session.run(feeds, [...attention.flatMap((tap) => (tap.mask ? [tap.output, tap.mask.output] : [tap.output])), ...residual]);
  }
  const outputs: Record<string, HostTensor> = {};
  for (const [pass, group] of passes.groups.entries()) {
    onPass(pass);
    const names = group.flatMap((index) => {
      const tap = attention[index];
      return tap.mask ? [tap.output, tap.mask.output] : [tap.output];
    });
    const wanted = pass === 0 ? [...names, ...residual] : names;
    // ONNX Runtime keeps every graph output of a session until its run ends, asked for or not: each
    // pass gets a session of the graph cut to its own outputs, released before the next one.
    const session = await model.passSession(wanted);
    try {
      Object.assign(outputs, await session.run(feedsFor(session, feeds), wanted));
    } finally {
      await session.release();
    }
    cancel.throwIfCancelled();
  }
  return outputs;
}

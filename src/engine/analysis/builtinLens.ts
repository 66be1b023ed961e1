/**
 * @file Predictions and the logit lens of a built-in model, on either backend. The reference run
 * gives both from its own forward pass. A run on ONNX Runtime reads its predictions from the
 * exported graph's logits (explainOnnx), but its taps return residual norms, not vectors: its lens
 * comes from the reference model run once more on the same ids (same weights, so the same numbers
 * to float32 rounding; the parity tests compare them), and a notice says so.
 */
import type { CancellationCheck } from '../../shared/errors';
import { type AttentionTrace, notice } from '../../shared/trace';
import type { BuiltinModel } from '../builtin';
import { DEFAULT_MAX_TOKENS, type ExplainOptions } from '../options';
import type { ForwardOutput } from '../reference/transformer';
import { planStreams } from '../streams';
import { referencePredictions } from './predictions';
import { DEFAULT_TOP_K, idTextOf } from './topTokens';

/** The trace's predictions (and lens, when the run kept its layer states) from a reference run. */
export function builtinPredictions(model: BuiltinModel, output: ForwardOutput, options: ExplainOptions, cancel: CancellationCheck): Pick<AttentionTrace, 'predictions' | 'logitLens'> {
  const result = referencePredictions(model.transformer, output, options.topK ?? DEFAULT_TOP_K, idTextOf(model.tokenizer), cancel);
  return {
    ...(result.predictions.length > 0 ? { predictions: result.predictions } : {}),
    ...(result.logitLens ? { logitLens: result.logitLens } : {}),
  };
}

/** Adds the logit lens to a trace the built-in model's ONNX export made, from a reference run. */
export function builtinLogitLens(model: BuiltinModel, trace: AttentionTrace, text: string, options: ExplainOptions, cancel: CancellationCheck): void {
  const started = performance.now();
  const plan = planStreams(model.tokenizer, model.info.kind, text, { maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS, decoderText: options.decoderText, padTo: options.padTo });
  const ids = (name: 'encoder' | 'decoder'): number[] | undefined => plan.streams.find((stream) => stream.name === name)?.tokens.map((token) => token.id);
  // The lens must read the ids the graph ran on; were they planned differently, say so, show none.
  const same = trace.streams.every((stream) => JSON.stringify(stream.tokens.map((token) => token.id)) === JSON.stringify(ids(stream.name) ?? []));
  if (!same) {
    trace.notices.push(notice('logit-lens-unavailable', 'The logit lens was not computed: the reference model would not read the same token ids as the ONNX run.'));
    return;
  }
  const output = model.transformer.forward({ encoderIds: ids('encoder'), encoderPadding: plan.encoderPadding, decoderIds: ids('decoder') }, cancel, false, true);
  const lens = builtinPredictions(model, output, options, cancel).logitLens;
  if (lens) trace.logitLens = lens;
  const ms = performance.now() - started;
  trace.timings.push({ stage: 'logit lens', ms });
  trace.notices.push(notice('logit-lens-reference', `The logit lens was computed by the built-in reference model (a second forward pass, ${ms.toFixed(0)} ms): the ONNX run returns residual norms, not the residual vectors.`));
}

/**
 * @file Predictions and the logit lens of the built-in model (reference backend): the LM head's
 * top-k next tokens at every position, and every layer's output put through the final norm and
 * the unembedding (nostalgebraist 2020, "interpreting GPT: the logit lens"). The head reads the
 * decoder's output, or the encoder's in an encoder-only model (the stack the LM head follows).
 */
import { type CancellationCheck, neverCancelled } from '../../shared/errors';
import type { LogitLensLayer, StreamName, StreamPredictions, TokenPrediction } from '../../shared/trace';
import type { Norm } from '../reference/components';
import type { LanguageModelHead } from '../reference/lmHead';
import type { Matrix } from '../reference/matrix';
import type { ForwardOutput, Transformer } from '../reference/transformer';
import { type IdText, topTokens } from './topTokens';

/** Rows put through the head at once: bounds the [rows, vocab] logits (gpt2-shape: 50257 per row). */
const ROWS_PER_CHUNK = 64;

/**
 * Top-k of every row of `hidden` [T, d] through the head. The head is the costly part (gpt2-shape:
 * 64 tokens take 1.6 s in TypeScript, a lens of 12 layers 12 times that), so a cancelled run stops
 * between chunks.
 */
export function headTopTokens(head: LanguageModelHead, hidden: Matrix, k: number, text: IdText, cancel: CancellationCheck = neverCancelled): TokenPrediction[][] {
  const top: TokenPrediction[][] = [];
  for (let start = 0; start < hidden.rows; start += ROWS_PER_CHUNK) {
    cancel.throwIfCancelled();
    const rows = Math.min(ROWS_PER_CHUNK, hidden.rows - start);
    const logits = head.logits({ rows, cols: hidden.cols, data: hidden.data.subarray(start * hidden.cols, (start + rows) * hidden.cols) });
    for (let row = 0; row < rows; row++) top.push(topTokens(logits.data.subarray(row * logits.cols, (row + 1) * logits.cols), k, text));
  }
  return top;
}

/** The stream the LM head reads, its final states and its stack's final norm (null: post-LN). */
function headStream(transformer: Transformer, output: ForwardOutput): { stream: StreamName; hidden: Matrix; finalNorm: Norm | null } | null {
  if (transformer.decoder && output.decoderOutput) return { stream: 'decoder', hidden: output.decoderOutput, finalNorm: transformer.decoder.finalNorm };
  if (transformer.encoder && output.encoderOutput) return { stream: 'encoder', hidden: output.encoderOutput, finalNorm: transformer.encoder.finalNorm };
  return null;
}

export interface ReferenceLensResult {
  predictions: StreamPredictions[];
  /** Present when the run kept its layer states. */
  logitLens?: LogitLensLayer[];
}

/**
 * The predictions from the run's final states, and the lens from its layer states when it kept
 * them. For pre-LN the final norm is the stack's; for post-LN every layer already ends with a norm
 * and the head reads the last layer's output as is. Either way the last layer's lens is the final
 * states through the head, which the predictions already are: it is taken from them, not computed
 * twice (the tests check it against a recomputation).
 */
export function referencePredictions(transformer: Transformer, output: ForwardOutput, k: number, text: IdText, cancel: CancellationCheck = neverCancelled): ReferenceLensResult {
  const found = headStream(transformer, output);
  if (!found) return { predictions: [] };
  const predictions = [{ stream: found.stream, top: headTopTokens(transformer.head, found.hidden, k, text, cancel) }];
  const states = output.layerStates.filter((state) => state.stream === found.stream);
  if (states.length === 0) return { predictions };
  const last = states.length - 1;
  const logitLens = states.map((state, index): LogitLensLayer => ({
    stream: state.stream,
    layer: state.layer,
    top: index === last
      ? predictions[0].top.map((top) => top.map((entry) => ({ ...entry })))
      : headTopTokens(transformer.head, found.finalNorm ? found.finalNorm.forward(state.state) : state.state, k, text, cancel),
  }));
  return { predictions, logitLens };
}

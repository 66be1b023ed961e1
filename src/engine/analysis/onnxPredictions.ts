/**
 * @file Predictions of an ONNX model, from the logits output its graph already has ([batch, seq,
 * vocab]): requested in the same run as the taps, so they cost no second forward pass.
 */
import { notice, type StreamName, type StreamPredictions, type TraceNotice } from '../../shared/trace';
import type { HostTensor } from '../onnx/runtime';
import { floatValues } from '../onnx/traceFromRun';
import { checkTopK, type IdText, topTokens } from './topTokens';

/** "logits", "lm_logits", "decoder/logits": how exporters (optimum, the built-in export) name the LM head's output. */
const LOGITS_NAME = /(^|[_./:])logits$/i;

/** The graph output holding the LM head's logits, when one is named so (the taps' own outputs aside). */
export function logitsOutputName(outputNames: readonly string[], tapOutputs: ReadonlySet<string>): string | null {
  return outputNames.find((name) => !tapOutputs.has(name) && LOGITS_NAME.test(name)) ?? null;
}

/** What a run made of the logits: predictions, or a notice saying why there are none. */
export type LogitsReading = { predictions: StreamPredictions[] } | { notice: TraceNotice };

/**
 * The top-k per position of batch 0 of a [batch, seq, vocab] tensor whose seq is the stream's
 * token count. Another shape (a [batch, vocab] head that scores the last token only, a classifier)
 * gives a notice rather than numbers that would be read wrong.
 */
export function predictionsFromLogits(tensor: HostTensor, name: string, stream: StreamName, tokens: number, k: number, text: IdText): LogitsReading {
  const [batch, seq, vocabulary] = tensor.dims;
  if (tensor.dims.length !== 3 || batch < 1 || seq !== tokens || vocabulary < 1) {
    return { notice: notice('predictions-shape', `The output ${name} has shape [${tensor.dims.join(', ')}], not [batch, ${tokens}, vocabulary]: no predictions were read from it.`) };
  }
  checkTopK(k, vocabulary);
  const values = floatValues(tensor);
  const top = Array.from({ length: seq }, (_, position) => topTokens(values.subarray(position * vocabulary, (position + 1) * vocabulary), k, text));
  return { predictions: [{ stream, top }] };
}

/**
 * @file What the command line prints: the summary of a trace (the predictions and the logit lens,
 * per layer and head the strongest edge and the mean entropy, the diagnostics, the residual
 * stream) and the list of presets.
 */
import { argmaxDisagreements, type LazyTrace, summarizeHeads, PRESET_NAMES, PRESETS } from '../engine';
import { type AttentionBlock, type AttentionTrace, type Token, findStream } from '../shared/trace';
import { predictionLines } from './predictionsSummary';
import { ablationLines } from './ablationSummary';
import { cliWords } from './words';

/** A token as the summary shows it: its text, quoted, or its piece for specials. */
function label(token: Token | undefined): string {
  if (!token) return '?';
  return token.special || token.text.trim() === '' || token.piece !== token.text ? token.piece : JSON.stringify(token.text).slice(1, -1);
}

/** A statistic that may be NaN (a broken model): printed as NaN rather than as a number. */
function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

export function formatSummary(trace: AttentionTrace): string {
  return [...summaryHead(trace), ...trace.blocks.flatMap((block) => blockLines(trace, block)), ...summaryTail(trace)].join('\n');
}

/**
 * The same summary from a trace whose blocks are read one at a time (a trace file): what the run
 * that saved it printed.
 */
export async function formatLazySummary(trace: LazyTrace): Promise<string> {
  const lines = summaryHead(trace.skeleton);
  for (let index = 0; index < trace.blocks.length; index++) lines.push(...blockLines(trace.skeleton, await trace.readBlock(index)));
  return [...lines, ...summaryTail(trace.skeleton)].join('\n');
}

/** The model, the tokens and the notices. */
function summaryHead(trace: AttentionTrace): string[] {
  const lines: string[] = [];
  const model = trace.model;
  const stacks = [
    model.encoderLayers > 0 ? `${model.encoderLayers} encoder` : '',
    model.decoderLayers > 0 ? `${model.decoderLayers} decoder` : '',
  ].filter(Boolean).join(' + ');
  const forward = trace.timings.find((timing) => timing.stage === 'forward');
  lines.push(`${model.name}: ${model.kind}, ${stacks} layers x ${model.heads} heads, d_model=${model.dModel ?? '?'}, ${model.weights ?? ''}; backend ${trace.backend}${trace.adapter ? ` (${trace.adapter})` : ''}${forward ? `, forward ${forward.ms.toFixed(1)} ms` : ''}`);
  for (const stream of trace.streams) {
    lines.push(`${stream.name} tokens (${stream.tokens.length}, ${model.tokenizer}, ${stream.origin}): ${stream.tokens.map(label).join(' ')}`);
  }
  for (const notice of trace.notices) lines.push(`note: ${cliWords(notice.message)}`);
  lines.push(...predictionLines(trace), ...ablationLines(trace));
  return lines;
}

/** One block: per head its strongest edge and mean entropy. */
function blockLines(trace: AttentionTrace, block: AttentionBlock): string[] {
  const queryTokens = findStream(trace, block.queryStream).tokens;
  const keyTokens = findStream(trace, block.keyStream).tokens;
  const lines = ['', `layer ${block.layer} ${block.kind} [${block.heads} heads x ${block.queries} queries x ${block.keys} keys], mask: ${block.maskKind}`];
  for (const head of summarizeHeads(block)) {
    const edge = head.strongest
      ? `${label(queryTokens[head.strongest.query])}@${head.strongest.query} -> ${label(keyTokens[head.strongest.key])}@${head.strongest.key}  ${fixed(head.strongest.weight, 3)}`
      : '(no row with a choice)';
    lines.push(`  head ${String(head.head).padStart(2)}  strongest ${edge.padEnd(34)}  entropy ${fixed(head.meanEntropyBits, 2)} bits`);
  }
  if (block.valueWeighted) {
    // Where weighing by the values' norms moves a query's strongest key: what that view adds to α.
    const moved = argmaxDisagreements(block.probs, block.valueWeighted, block.heads, block.queries, block.keys);
    lines.push(`  value-weighted: queries whose strongest key differs from α's, per head: ${moved.map((count, head) => `h${head} ${count}/${block.queries}`).join('  ')}`);
  }
  return lines;
}

/** The diagnostics and the residual stream. */
function summaryTail(trace: AttentionTrace): string[] {
  const lines: string[] = [];
  const diagnostics = trace.analysis?.diagnostics ?? [];
  lines.push('');
  lines.push(diagnostics.length === 0 ? 'diagnostics: none' : `diagnostics (${diagnostics.length}):`);
  for (const finding of diagnostics) lines.push(`  ${finding.severity.padEnd(7)} ${finding.code.padEnd(17)} ${cliWords(finding.message)}`);
  lines.push('');
  lines.push('residual stream, mean L2 norm per token:');
  for (const step of trace.residual) {
    const mean = step.norms.reduce((sum, norm) => sum + norm, 0) / Math.max(1, step.norms.length);
    lines.push(`  ${step.label.padEnd(36)} ${fixed(mean, 2)}`);
  }
  return lines;
}

/** `--list-models`: one aligned row per preset. */
export function formatModelList(): string {
  const names = PRESET_NAMES.map((name) => `builtin:${name}`);
  const width = Math.max(...names.map((name) => name.length));
  return PRESET_NAMES.map((name, index) => {
    const config = PRESETS[name];
    return `${names[index].padEnd(width)}  ${config.kind.padEnd(15)}  layers ${config.encoderLayers}+${config.decoderLayers}  heads ${String(config.heads).padStart(2)}  d_model ${String(config.dModel).padStart(3)}  d_ff ${String(config.dFF).padStart(4)}  ${config.normPlacement}-LN ${config.activation}`;
  }).join('\n');
}

/**
 * @file Diagnostics: concrete problems in a trace, each pointing at a block and head (or a layer of
 * the residual stream), with the numbers in a one-line message. Errors are things a correct model
 * never shows (a leaking mask, NaN, rows that are not distributions); warnings are signs of a likely
 * bug (saturated softmax, residual blow-up); infos are patterns worth knowing (near-uniform heads,
 * heads that only look at the first token), common in random-weight models.
 *
 * A head with non-finite weights gets only `non-finite`: every other measure of it would be
 * computed around NaN and mean nothing. A head whose rows are not distributions (`row-sum`) still
 * gets `mask-leak`, but not the checks that read its rows as distributions. Layers and heads are
 * 0-based, as in the trace and the CLI.
 */
import { type AttentionBlock, type AttentionTrace, attentionRow, headProbs, type ResidualStep, type StreamName } from '../../shared/trace';
import { uniformEntropyBits } from '../../shared/entropy';
import { allowedCounts, headIsFinite, isAllowed, rowEntropy } from './headStats';
import type { DiagnosticSeverity, DiagnosticThresholds, HeadStats, TraceDiagnostic } from '../../shared/analysis';

/** A row is not a distribution when its sum is off by more than this; float16 softmax stays well within. */
export const ROW_SUM_TOLERANCE = 0.01;
/** Saturation needs a few rows with a choice: one saturated row of two keys is not a pattern. */
const MIN_SATURATION_ROWS = 2;
/** A saturated head is a previous-token head, not a sign of a bug, when this share of its saturated rows pick the previous token. */
const PREVIOUS_TOKEN_HEAD_SHARE = 0.9;
/** Uniformity is only telling when some row chooses among at least this many keys. */
const MIN_UNIFORM_KEYS = 4;

const SEVERITY_ORDER: Record<DiagnosticSeverity, number> = { error: 0, warning: 1, info: 2 };

/** A weight for a message: two decimals, or two significant digits when tiny. */
function weight(value: number): string {
  return value !== 0 && Math.abs(value) < 0.01 ? value.toExponential(1) : value.toFixed(2);
}

const percent = (share: number): string => `${Math.round(share * 100)}%`;
const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

function where(block: AttentionBlock, head: number | null): string {
  return `Layer ${block.layer} ${block.kind}${head === null ? '' : ` head ${head}`}`;
}

function headDiagnostic(code: TraceDiagnostic['code'], severity: DiagnosticSeverity, block: AttentionBlock, blockIndex: number, head: number | null, message: string): TraceDiagnostic {
  return { code, severity, blockIndex, layer: block.layer, head, stream: block.queryStream, message: `${where(block, head)}: ${message}` };
}

/** Blocks whose keys after the query are the future: decoder self-attention and causally masked self-attention. */
function futureIsBlocked(block: AttentionBlock): boolean {
  return block.kind === 'decoder-self' || (block.kind !== 'cross' && (block.maskKind === 'causal' || block.maskKind === 'causal+padding'));
}

interface HeadContext {
  block: AttentionBlock;
  blockIndex: number;
  head: number;
  counts: Int32Array;
  thresholds: DiagnosticThresholds;
}

function row(context: HeadContext, query: number): Float32Array {
  return attentionRow(context.block, context.head, query);
}

/** Cells the block's mask blocks, or (causal blocks) above the diagonal, that carry weight. */
function maskLeak(context: HeadContext): TraceDiagnostic | null {
  const { block, blockIndex, head, thresholds } = context;
  const causal = futureIsBlocked(block);
  let masked = 0;
  let future = 0;
  let worst = { query: 0, key: 0, weight: 0 };
  for (let query = 0; query < block.queries; query++) {
    const weights = row(context, query);
    for (let key = 0; key < block.keys; key++) {
      const isFuture = causal && key > query;
      const isMasked = !isAllowed(block, query, key);
      if ((!isFuture && !isMasked) || !(weights[key] > thresholds.leakWeight)) continue;
      if (isMasked) masked++;
      else future++;
      if (weights[key] > worst.weight) worst = { query, key, weight: weights[key] };
    }
  }
  if (masked + future === 0) return null;
  const leaking = future === 0 ? plural(masked, 'masked cell') : masked === 0 ? `${plural(future, 'cell')} above the diagonal` : `${plural(masked, 'masked cell')} and ${future} above the diagonal`;
  const what = future > 0 ? 'the causal mask leaks' : 'the mask leaks';
  return headDiagnostic('mask-leak', 'error', block, blockIndex, head, `${leaking} ${masked + future === 1 ? 'carries' : 'carry'} weight (max ${weight(worst.weight)} at ${worst.query}→${worst.key}): ${what}.`);
}

/**
 * Rows with a choice whose largest weight is at least saturatedRowMax. A head whose saturated rows
 * nearly all pick the previous token is not flagged: trained models grow such sharp
 * previous-token heads (the built-in trained decoder's reaches 0.997), while a missing 1/√d_k
 * sharpens whatever each row already prefers, which is no single offset.
 */
function saturatedSoftmax(context: HeadContext): TraceDiagnostic | null {
  const { block, blockIndex, head, counts, thresholds } = context;
  let rows = 0;
  let saturated = 0;
  let onPreviousToken = 0;
  for (let query = 0; query < block.queries; query++) {
    if (counts[query] < 2) continue;
    rows++;
    const weights = row(context, query);
    let largest = 0;
    let largestKey = -1;
    for (let key = 0; key < weights.length; key++) {
      if (weights[key] > largest) [largest, largestKey] = [weights[key], key];
    }
    if (largest >= thresholds.saturatedRowMax) {
      saturated++;
      if (largestKey === query - 1 && block.queryStream === block.keyStream) onPreviousToken++;
    }
  }
  if (rows < MIN_SATURATION_ROWS || saturated / rows < thresholds.saturatedRowShare) return null;
  if (onPreviousToken >= PREVIOUS_TOKEN_HEAD_SHARE * saturated) return null;
  return headDiagnostic(
    'saturated-softmax',
    'warning',
    block,
    blockIndex,
    head,
    `${saturated} of ${rows} rows (${percent(saturated / rows)}) put ≥ ${thresholds.saturatedRowMax} on one key: the softmax is saturated, typical of scores not divided by √d_k.`,
  );
}

/** Mean entropy close to the entropy of a uniform choice among the allowed keys. */
function uniformHead(context: HeadContext): TraceDiagnostic | null {
  const { block, blockIndex, head, counts, thresholds } = context;
  let entropySum = 0;
  let uniformSum = 0;
  let rows = 0;
  let widest = 0;
  for (let query = 0; query < block.queries; query++) {
    if (counts[query] < 2) continue;
    rows++;
    widest = Math.max(widest, counts[query]);
    entropySum += rowEntropy(row(context, query));
    uniformSum += uniformEntropyBits(counts[query]);
  }
  if (widest < MIN_UNIFORM_KEYS || entropySum < thresholds.uniformEntropyRatio * uniformSum) return null;
  const [entropy, uniform] = [entropySum / rows, uniformSum / rows];
  return headDiagnostic(
    'uniform-head',
    'info',
    block,
    blockIndex,
    head,
    `mean entropy ${entropy.toFixed(2)} bits is ${percent(entropy / uniform)} of a uniform choice (${uniform.toFixed(2)} bits): the head barely prefers any key.`,
  );
}

/** Mean weight on key 0 over rows q ≥ 1 that have a choice (row 0 of a causal block can see only key 0). */
function firstTokenOnly(context: HeadContext): TraceDiagnostic | null {
  const { block, blockIndex, head, counts, thresholds } = context;
  let sum = 0;
  let rows = 0;
  for (let query = 1; query < block.queries; query++) {
    if (counts[query] < 2) continue;
    sum += row(context, query)[0];
    rows++;
  }
  if (rows === 0 || sum / rows < thresholds.firstTokenShare) return null;
  return headDiagnostic('first-token-only', 'info', block, blockIndex, head, `rows 1…${block.queries - 1} put ${percent(sum / rows)} of their weight on the first token on average: an attention sink.`);
}

/** NaN/±Infinity in a block's weights: one diagnostic per block, pointing at the first bad head. */
function nonFiniteBlock(block: AttentionBlock, blockIndex: number): TraceDiagnostic | null {
  let count = 0;
  const heads: number[] = [];
  for (let head = 0; head < block.heads; head++) {
    let inHead = 0;
    for (const weight of headProbs(block, head)) if (!Number.isFinite(weight)) inHead++;
    if (inHead > 0) heads.push(head);
    count += inHead;
  }
  if (count === 0) return null;
  const headList = heads.length === block.heads ? 'all heads' : `head${heads.length > 1 ? 's' : ''} ${heads.join(', ')}`;
  return {
    code: 'non-finite',
    severity: 'error',
    blockIndex,
    layer: block.layer,
    head: heads[0],
    stream: block.queryStream,
    message: `${where(block, null)}: ${count} of ${block.probs.length} weights are NaN or infinite (${headList}): a weight or activation of the model is not finite.`,
  };
}

interface RowSums {
  /** Heads whose every row with an allowed key sums to 1 (within ROW_SUM_TOLERANCE). */
  distributionHeads: Set<number>;
  diagnostic: TraceDiagnostic | null;
}

/** Rows with allowed keys that do not sum to 1, over a block's finite heads; one diagnostic per block. */
function rowSums(block: AttentionBlock, blockIndex: number, counts: Int32Array, finiteHeads: number[]): RowSums {
  const distributionHeads = new Set<number>();
  let bad = 0;
  let rows = 0;
  let worst = { head: 0, query: 0, sum: 1 };
  for (const head of finiteHeads) {
    let badInHead = 0;
    for (let query = 0; query < block.queries; query++) {
      if (counts[query] === 0) continue;
      rows++;
      let sum = 0;
      for (const weight of attentionRow(block, head, query)) sum += weight;
      if (Math.abs(sum - 1) <= ROW_SUM_TOLERANCE) continue;
      badInHead++;
      if (Math.abs(sum - 1) > Math.abs(worst.sum - 1)) worst = { head, query, sum };
    }
    if (badInHead === 0) distributionHeads.add(head);
    bad += badInHead;
  }
  if (bad === 0) return { distributionHeads, diagnostic: null };
  const heads = finiteHeads.length - distributionHeads.size;
  return {
    distributionHeads,
    diagnostic: headDiagnostic(
      'row-sum',
      'error',
      block,
      blockIndex,
      worst.head,
      `${bad} of ${rows} rows (${heads} of ${block.heads} heads) do not sum to 1 (head ${worst.head} row ${worst.query} sums to ${weight(worst.sum)}): the softmax does not normalise over the keys (wrong axis?).`,
    ),
  };
}

function meanNorm(step: ResidualStep): number {
  let sum = 0;
  for (const norm of step.norms) sum += norm;
  return step.norms.length > 0 ? sum / step.norms.length : 0;
}

/** Per stream: the first step with non-finite norms (later ones follow from it), and layers whose mean norm grows too much. */
function residualDiagnostics(trace: AttentionTrace, thresholds: DiagnosticThresholds): TraceDiagnostic[] {
  const diagnostics: TraceDiagnostic[] = [];
  const streams = [...new Set(trace.residual.map((step) => step.stream))];
  for (const stream of streams) {
    const steps = trace.residual.filter((step) => step.stream === stream);
    const bad = steps.filter((step) => step.norms.some((norm) => !Number.isFinite(norm)));
    if (bad.length > 0) {
      const later = bad.length > 1 ? `; ${bad.length - 1} later step(s) too` : '';
      diagnostics.push({ code: 'non-finite', severity: 'error', blockIndex: null, layer: bad[0].layer, head: null, stream, message: `${bad[0].label}: residual norms are NaN or infinite${later}.` });
    }
    diagnostics.push(...normBlowup(stream, steps, thresholds));
  }
  return diagnostics;
}

/** Mean norm after each layer's last step over the mean after the previous layer's (or the embedding). */
function normBlowup(stream: StreamName, steps: ResidualStep[], thresholds: DiagnosticThresholds): TraceDiagnostic[] {
  const lastOfLayer = new Map<number, ResidualStep>();
  for (const step of steps) if (step.layer !== null) lastOfLayer.set(step.layer, step);
  const embedding = steps.find((step) => step.stage === 'embedding');
  const diagnostics: TraceDiagnostic[] = [];
  for (const [layer, after] of [...lastOfLayer].sort(([a], [b]) => a - b)) {
    const before = layer === 0 ? embedding : lastOfLayer.get(layer - 1);
    if (!before) continue;
    const [from, to] = [meanNorm(before), meanNorm(after)];
    if (!(from > 0) || !Number.isFinite(to) || to / from <= thresholds.normGrowthPerLayer) continue;
    diagnostics.push({
      code: 'norm-blowup',
      severity: 'warning',
      blockIndex: null,
      layer,
      head: null,
      stream,
      message: `${stream} layer ${layer}: the residual stream's mean norm grows ${(to / from).toFixed(1)}× (${from.toFixed(2)} → ${to.toFixed(2)}), more than ${thresholds.normGrowthPerLayer}× in one layer.`,
    });
  }
  return diagnostics;
}

/**
 * Every diagnostic of a trace, errors first, then warnings, then infos (trace order within each).
 * `stats` (computeHeadStats) tells which heads are finite: NaN statistics mark a non-finite head.
 */
export function diagnose(trace: AttentionTrace, stats: readonly HeadStats[], thresholds: DiagnosticThresholds): TraceDiagnostic[] {
  const finite = new Map(stats.map((stat) => [`${stat.blockIndex}:${stat.head}`, !Number.isNaN(stat.entropy)]));
  const diagnostics: TraceDiagnostic[] = [];
  const push = (diagnostic: TraceDiagnostic | null): void => {
    if (diagnostic) diagnostics.push(diagnostic);
  };
  trace.blocks.forEach((block, blockIndex) => {
    const counts = allowedCounts(block);
    push(nonFiniteBlock(block, blockIndex));
    const finiteHeads: number[] = [];
    for (let head = 0; head < block.heads; head++) {
      if (finite.get(`${blockIndex}:${head}`) ?? headIsFinite(block, head)) finiteHeads.push(head);
    }
    const sums = rowSums(block, blockIndex, counts, finiteHeads);
    for (const head of finiteHeads) {
      const context: HeadContext = { block, blockIndex, head, counts, thresholds };
      push(maskLeak(context));
      // Saturation, uniformity and sinks describe distributions; rows that are not (row-sum) would only add noise.
      if (!sums.distributionHeads.has(head)) continue;
      push(saturatedSoftmax(context));
      push(uniformHead(context));
      push(firstTokenOnly(context));
    }
    push(sums.diagnostic);
  });
  diagnostics.push(...residualDiagnostics(trace, thresholds));
  return diagnostics
    .map((diagnostic, order) => ({ diagnostic, order }))
    .sort((a, b) => SEVERITY_ORDER[a.diagnostic.severity] - SEVERITY_ORDER[b.diagnostic.severity] || a.order - b.order)
    .map(({ diagnostic }) => diagnostic);
}

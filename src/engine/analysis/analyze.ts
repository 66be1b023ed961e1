/**
 * @file The whole analysis of one trace: head statistics, rollout and diagnostics, with the
 * thresholds they were judged by (so a reader of the result knows why something fired).
 */
import type { AttentionTrace } from '../../shared/trace';
import { computeColorLimits } from '../../shared/colorLimits';
import { diagnose } from './diagnostics';
import { computeHeadStats } from './headStats';
import { computeRollout } from './rollout';
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds, type TraceAnalysis } from '../../shared/analysis';

export function analyzeTrace(trace: AttentionTrace, thresholds: DiagnosticThresholds = DEFAULT_THRESHOLDS): TraceAnalysis {
  const headStats = computeHeadStats(trace);
  return {
    headStats,
    colorLimits: computeColorLimits(trace),
    rollout: computeRollout(trace),
    diagnostics: diagnose(trace, headStats, thresholds),
    thresholds: { ...thresholds },
  };
}

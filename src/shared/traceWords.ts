/**
 * @file A trace's words for one host: notices and diagnostic messages name options by reference
 * (errors.ts `optionRef`), and the host that shows or saves the trace renders them once, in its own
 * words (CLI flags, VS Code settings).
 */
import { type OptionWords, renderOptionRefs } from './errors';
import type { AttentionTrace } from './trace';

/** Renders the option references of the trace's notices and diagnostics in place; returns the trace. */
export function renderTraceWords(trace: AttentionTrace, words: OptionWords): AttentionTrace {
  trace.notices = trace.notices.map((notice) => ({ ...notice, message: renderOptionRefs(notice.message, words) }));
  if (trace.analysis) {
    trace.analysis.diagnostics = trace.analysis.diagnostics.map((finding) => ({ ...finding, message: renderOptionRefs(finding.message, words) }));
  }
  return trace;
}

/**
 * A copy of the trace in the host's words, the original untouched: it keeps its option references,
 * as a trace file saves them (so the CLI that opens it names its flags). The arrays are shared.
 */
export function withTraceWords(trace: AttentionTrace, words: OptionWords): AttentionTrace {
  return renderTraceWords({ ...trace, ...(trace.analysis ? { analysis: { ...trace.analysis } } : {}) }, words);
}

/**
 * @file What the status bar item says (statusBar.ts shows it): the model of the trace on show, with
 * the backend that ran it, not merely the model last selected. A run that fails leaves the last good
 * trace in the panel, so the item keeps naming that trace's model and says, in its tooltip, which
 * model failed and why. Pure (no `vscode` import), so unit tests read it.
 */
import type { TraceNotice } from '../shared/trace';

/** The trace on show: its model as the status bar names it ("builtin:…", a path, "hf:ORG/NAME@REV"). */
export interface ShownRun {
  model: string;
  backend: string;
  /** Why that backend ran (the backend notices), for the tooltip. */
  detail?: string;
  /** The GPU of a WebGPU run. */
  adapter?: string;
}

export interface ModelStatusState {
  /** The model the next run uses (the setting, "Select Model..."). */
  selected: string;
  shown?: ShownRun;
  /** The last run failed: with which model, and its message. Cleared by the next trace. */
  failed?: { model: string; message: string };
}

export interface ModelStatusView {
  /** The item's text, with codicons. */
  text: string;
  /** Markdown. */
  tooltip: string;
}

/** "tiny-decoder" for builtin:tiny-decoder, "ORG/NAME@REV" for hf:…, a file's base name. */
export function shortModelName(model: string): string {
  if (model.startsWith('builtin:')) return model.slice('builtin:'.length);
  if (model.startsWith('hf:')) return model.slice('hf:'.length);
  const parts = model.split(/[\\/]/);
  return parts[parts.length - 1] || model;
}

/** Whether a shown model is the selected one: a Hub model is shown at the revision it ran ("hf:ORG/NAME@REV"). */
export function sameModel(selected: string, shown: string): boolean {
  return selected === shown || (selected.startsWith('hf:') && !selected.includes('@') && shown.startsWith(`${selected}@`));
}

/** Backticks in a name would end the code span they are shown in. */
function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

export function modelStatusView(state: ModelStatusState): ModelStatusView {
  const { selected, shown, failed } = state;
  const name = shown?.model ?? selected;
  const text = `$(eye) ${shortModelName(name)}${shown ? ` · ${shown.backend}` : ''}${failed ? ' $(warning)' : ''}`;
  const lines = ['**Attention Lens**'];
  if (shown) {
    lines.push(`Model of the trace on show: ${code(shown.model)}`);
    lines.push(`Backend of its run: ${shown.backend}${shown.adapter ? ` on ${shown.adapter}` : ''}`);
    if (shown.detail) lines.push(shown.detail);
  } else {
    lines.push(`Model: ${code(selected)}`);
  }
  if (failed) {
    lines.push(`The last run, with ${code(failed.model)}, failed: ${failed.message}${shown ? ' The panel still shows the trace above.' : ''}`);
  }
  if (shown && !sameModel(selected, shown.model) && !(failed && failed.model === selected)) {
    lines.push(`Selected for the next run: ${code(selected)}`);
  }
  lines.push('Click to select a model.');
  return { text, tooltip: lines.join('\n\n') };
}

/**
 * What the tooltip says about the backend of a run: the fallback notice (`backend`, the backend asked
 * for did not run) and auto's choice (`backend-choice`, which ran and why), in that order.
 */
export function backendDetail(trace: { readonly notices: readonly TraceNotice[] }): string | undefined {
  const lines = ['backend', 'backend-choice'].flatMap((kind) => trace.notices.filter((notice) => notice.code === kind).map((notice) => notice.message));
  return lines.length > 0 ? lines.join(' ') : undefined;
}

/**
 * @file The page around the views: the status line, the start buttons shown while there is no
 * trace, and the trace view's header. The header is kept short so the heatmap starts high even in
 * a 300 px side bar (issue 22): one line with the model's name, its "Select Model…" control and
 * the pickers the caller puts beside them, and the notices folded into one line that expands. The
 * status with the model's facts is one more line that expands, which a narrow panel shows under
 * the view. It follows the session's status and applies the host's capabilities to the whole page.
 */
import type { PanelCommand, TraceOverview } from '../src/shared/protocol';
import { applyCapabilities } from './capabilities';
import { commandButton, element } from './dom';
import { modelHeadFacts } from './kvGroups';
import type { PanelSession, RunStatus } from './session';
import { capitalize } from './steps';

/** The status line before any run, unless the page came with one (the HTML report's). */
const EMPTY_STATUS = 'Select text in an editor and run "Explain Attention".';

/**
 * Notice codes that are facts to look up, not exceptions to read on every run: `backend-choice`
 * (which backend auto picked and why; it is the backend fact's tooltip). The rest are shown as notices.
 */
const FACT_NOTICES: ReadonlySet<string> = new Set(['backend-choice']);

/** A single notice up to this long is shown as it is, on its one line; longer ones or more fold. */
export const INLINE_NOTICE_CHARS = 40;

/** The header's notices (exceptions) and the tooltip of its backend fact, from the trace's notices. */
export function splitNotices(notices: TraceOverview['notices']): { shown: string[]; backendTitle: string | null } {
  const choice = notices.filter((notice) => notice.code === 'backend-choice').map((notice) => notice.message);
  return {
    shown: notices.filter((notice) => !FACT_NOTICES.has(notice.code)).map((notice) => notice.message),
    backendTitle: choice.length > 0 ? choice.join(' ') : null,
  };
}

/**
 * How the notices take their one line: none; one short notice as it is (`inline`); else a line that
 * expands, saying how many there are (`count`) and, while closed, starting the first (`first`):
 * "2 notices: The decoder input was…".
 */
export function noticeLine(texts: readonly string[]): { kind: 'none' } | { kind: 'inline' } | { kind: 'folded'; count: string; first: string } {
  if (texts.length === 0) return { kind: 'none' };
  if (texts.length === 1 && texts[0].length <= INLINE_NOTICE_CHARS) return { kind: 'inline' };
  return { kind: 'folded', count: `${texts.length} notice${texts.length === 1 ? '' : 's'}`, first: texts[0] };
}

/** The model's facts in order: its kind, layers and heads, width, backend and tokenizer. */
export function modelFacts(trace: TraceOverview): string[] {
  const { model } = trace;
  const layers = model.kind === 'encoder-decoder'
    ? `${model.encoderLayers}+${model.decoderLayers} layers`
    : `${model.encoderLayers + model.decoderLayers} layers`;
  return [model.kind, ...modelHeadFacts(trace, layers), `d_model ${model.dModel ?? '?'}`, `backend ${trace.backend}`, `tokenizer ${model.tokenizer}`];
}

export class PanelShell {
  readonly app: HTMLElement;
  /** The trace view: the header, then the views (PanelShell.assemble). */
  readonly view = element('section', { class: 'trace-view', 'aria-label': 'Attention trace' });
  private readonly statusLine: HTMLElement;
  private readonly startActions = element('div', { class: 'start-actions' });
  private readonly header = element('header', { class: 'panel-header' });
  /** The one header line: the model, then the pickers given to assemble(). */
  private readonly headerLine = element('div', { class: 'header-line' });
  private readonly title = element('h1');
  /**
   * The status and the facts: one line (cut with an ellipsis) that shows them all when opened. The
   * trace view's own child, so that a narrow panel can put it under the view (panel.css).
   */
  private readonly infoLine = element('div', { class: 'info-line' });
  private readonly factsFold = element('details', { class: 'facts-fold', id: 'facts-fold' });
  private readonly factsSummary = element('summary', { class: 'facts-summary' });
  private readonly facts = element('span', { class: 'facts' });
  private readonly noticesFold = element('details', { class: 'notices-fold', id: 'notices-fold' });
  private readonly noticesSummary = element('summary', { class: 'notices-summary' });
  private readonly notices = element('ul', { class: 'notices', 'aria-label': 'Notices' });

  constructor(runCommand: (command: PanelCommand) => void) {
    // The page's HTML holds #app and #status (src/shared/panelPage.ts); made here when it does not.
    this.app = (document.getElementById('app') ?? document.body.appendChild(element('main', { id: 'app' }))) as HTMLElement;
    this.statusLine = (document.getElementById('status') ?? this.app.appendChild(element('p', { id: 'status', role: 'status' }))) as HTMLElement;
    this.startActions.append(
      commandButton('attentionLens.explainSelection', 'Explain Selection', 'Explain the selected text', runCommand),
      commandButton('attentionLens.selectModel', 'Select Model…', 'Select the model', runCommand),
      commandButton('attentionLens.showOutput', 'Show Output', 'Show the Attention Lens output channel', runCommand),
    );
    // The model reads as a picker: its name, and beside it the compact control that changes it.
    const model = element('div', { class: 'model' });
    const selectModel = commandButton('attentionLens.selectModel', '▾', 'Select Model… (runs the last text again with it)', runCommand, 'select-model');
    // The name is a picker too, for the pointer; the button is the keyboard's (and the one a host
    // that cannot pick a model hides, leaving the name as plain text).
    this.title.addEventListener('click', () => { if (!selectModel.hidden) selectModel.click(); });
    model.append(this.title, selectModel);
    this.headerLine.append(model);
    this.factsSummary.append(this.facts);
    this.factsFold.append(this.factsSummary);
    this.infoLine.append(this.factsFold);
    this.noticesFold.append(this.noticesSummary, this.notices);
    this.header.append(this.headerLine, this.noticesFold);
  }

  /** The status line the page came with, or the default one. */
  get emptyText(): string {
    return this.statusLine.textContent || EMPTY_STATUS;
  }

  /**
   * Puts the page together: `controls` join the model on the header's line, `summary` closes the
   * header, and `parts` follow it in the trace view.
   */
  assemble(controls: readonly HTMLElement[], summary: HTMLElement, parts: readonly HTMLElement[]): void {
    this.headerLine.append(...controls);
    this.header.append(summary);
    this.view.append(this.header, this.infoLine, ...parts);
    this.view.hidden = true;
    this.app.append(this.startActions, this.view);
  }

  follow(session: PanelSession): void {
    session.subscribe((event) => {
      if (event.type === 'status') this.showStatus(event.status, session.shown !== undefined);
      else if (event.type === 'traceLoaded') this.renderHeader(event.shown.trace);
      else if (event.type === 'configured') applyCapabilities(this.app, event.capabilities);
    });
  }

  private showStatus(status: RunStatus, hasTrace: boolean): void {
    const { state, text } = status;
    this.app.dataset.state = state;
    // data-stale: a failed run left the last good trace on show, dimmed under the error (panel.css).
    if (state === 'error' && hasTrace) this.app.dataset.stale = 'true';
    else delete this.app.dataset.stale;
    this.statusLine.textContent = text;
    this.statusLine.title = text;
    this.startActions.hidden = state === 'trace' || (state === 'running' && hasTrace) || (state === 'error' && hasTrace);
    this.view.hidden = !hasTrace;
    // With a trace on show the status (its token counts) starts the facts' line; a run in progress
    // says so in the header, in sight; an error leads, above the dimmed trace; with no trace the
    // line leads the page.
    if (this.view.hidden || state === 'error') {
      if (this.statusLine.nextElementSibling !== this.startActions) this.app.insertBefore(this.statusLine, this.startActions);
    } else if (state === 'running') {
      if (this.statusLine.previousElementSibling !== this.headerLine) this.headerLine.after(this.statusLine);
    } else if (this.statusLine.parentElement !== this.infoLine) {
      this.infoLine.insertBefore(this.statusLine, this.factsFold);
    }
  }

  private renderHeader(trace: TraceOverview): void {
    const { model } = trace;
    const facts = modelFacts(trace);
    this.title.textContent = model.name;
    this.title.title = [model.path ?? model.name, facts.join(' · ')].join('\n');
    this.factsSummary.title = `${facts.join(' · ')}\n(click to show or hide them in full)`;
    const { shown: texts, backendTitle } = splitNotices(trace.notices);
    this.facts.replaceChildren(...facts.map((fact) => element('span', { class: 'fact' }, fact)));
    const backendFact = this.facts.children[this.facts.children.length - 2] as HTMLElement | undefined;
    if (backendFact) {
      backendFact.id = 'backend-fact';
      if (backendTitle) backendFact.title = backendTitle;
    }
    for (const cut of trace.truncation) {
      const line = `${capitalize(cut.stream)} input cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max ${cut.maxTokens}).`;
      if (!texts.some((text) => text.includes(`${cut.keptTokens} of ${cut.originalTokens}`))) texts.unshift(line);
    }
    this.notices.replaceChildren(...texts.map((text) => element('li', { class: 'notice' }, text)));
    const line = noticeLine(texts);
    this.noticesFold.hidden = line.kind === 'none';
    // One short notice is its own line (the fold stays open, its summary hidden); else the summary
    // line says how many there are, and opening it lists them.
    this.noticesFold.dataset.kind = line.kind;
    this.noticesFold.open = line.kind === 'inline';
    this.noticesSummary.replaceChildren(...(line.kind === 'folded'
      ? [element('span', { class: 'notices-count' }, line.count), element('span', { class: 'notices-first' }, `: ${line.first}`)]
      : []));
    this.noticesSummary.title = line.kind === 'folded' ? texts.join('\n') : '';
  }
}

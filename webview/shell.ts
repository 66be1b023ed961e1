/**
 * @file The page around the views: the status line, the start buttons shown while there is no
 * trace, and the trace view's header (model name, facts, notices). It follows the session's status
 * and applies the host's capabilities to the whole page.
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

/** The header's notices (exceptions) and the tooltip of its backend fact, from the trace's notices. */
export function splitNotices(notices: TraceOverview['notices']): { shown: string[]; backendTitle: string | null } {
  const choice = notices.filter((notice) => notice.code === 'backend-choice').map((notice) => notice.message);
  return {
    shown: notices.filter((notice) => !FACT_NOTICES.has(notice.code)).map((notice) => notice.message),
    backendTitle: choice.length > 0 ? choice.join(' ') : null,
  };
}

export class PanelShell {
  readonly app: HTMLElement;
  /** The trace view: the header, then the views (PanelShell.assemble). */
  readonly view = element('section', { class: 'trace-view', 'aria-label': 'Attention trace' });
  private readonly statusLine: HTMLElement;
  private readonly startActions = element('div', { class: 'start-actions' });
  private readonly header = element('header', { class: 'panel-header' });
  private readonly title = element('h1');
  private readonly facts = element('p', { class: 'facts' });
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
    const titleRow = element('div', { class: 'title-row' });
    titleRow.append(this.title, commandButton('attentionLens.selectModel', 'Select Model…', 'Select the model', runCommand, 'select-model'));
    this.header.append(titleRow, this.facts, this.notices);
  }

  /** The status line the page came with, or the default one. */
  get emptyText(): string {
    return this.statusLine.textContent || EMPTY_STATUS;
  }

  /** Puts the page together: `summary` closes the header; `parts` follow it in the trace view. */
  assemble(summary: HTMLElement, parts: readonly HTMLElement[]): void {
    this.header.append(summary);
    this.view.append(this.header, ...parts);
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
    this.startActions.hidden = state === 'trace' || (state === 'running' && hasTrace) || (state === 'error' && hasTrace);
    this.view.hidden = !hasTrace;
    // With a trace on show the status line sits under the model's facts; an error leads, above the
    // dimmed trace; with no trace the line leads the page.
    if (this.view.hidden || state === 'error') {
      if (this.statusLine.nextElementSibling !== this.startActions) this.app.insertBefore(this.statusLine, this.startActions);
    } else if (this.statusLine.parentElement !== this.header) {
      this.header.insertBefore(this.statusLine, this.notices);
    }
  }

  private renderHeader(trace: TraceOverview): void {
    const { model } = trace;
    this.title.textContent = model.name;
    this.title.title = model.path ?? model.name;
    const layers = model.kind === 'encoder-decoder'
      ? `${model.encoderLayers}+${model.decoderLayers} layers`
      : `${model.encoderLayers + model.decoderLayers} layers`;
    const { shown: texts, backendTitle } = splitNotices(trace.notices);
    this.facts.replaceChildren();
    for (const fact of [model.kind, ...modelHeadFacts(trace, layers), `d_model ${model.dModel ?? '?'}`, `backend ${trace.backend}`, `tokenizer ${model.tokenizer}`]) {
      this.facts.append(element('span', { class: 'fact' }, fact));
    }
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
    this.notices.hidden = texts.length === 0;
  }
}

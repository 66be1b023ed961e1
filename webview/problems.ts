/**
 * @file The Problems view: the trace's diagnostics (severity icon, code, message), errors first,
 * each a button that opens its layer and head in the heatmap; and the one-line summary the header
 * shows on every view, with the count on the Problems tab. Both follow PanelSession's trace.
 */
import type { TraceDiagnostic } from '../src/shared/analysis';
import type { BlockOverview } from '../src/shared/protocol';
import { countSeverities, diagnosticBlock, diagnosticLocation, diagnosticSummary, severityIcon, sortDiagnostics } from './diagnostics';
import { element } from './dom';
import type { PanelSession } from './session';
import type { ShownTrace } from './shownTrace';

export interface ProblemsCallbacks {
  /** A diagnostic that points at a block was chosen. */
  open(diagnostic: TraceDiagnostic): void;
}

export class ProblemsView {
  readonly element = document.createElement('section');
  private readonly list = document.createElement('ul');
  private readonly empty = document.createElement('p');

  constructor(private readonly callbacks: ProblemsCallbacks) {
    this.element.id = 'problems';
    this.element.className = 'problems-view';
    this.element.setAttribute('aria-label', 'Problems found in the attention');
    this.list.className = 'problem-list';
    this.empty.className = 'view-hint';
    this.element.append(this.empty, this.list);
  }

  /** Refilled with each trace's diagnostics. */
  follow(session: PanelSession): void {
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') this.render(event.shown.trace.analysis?.diagnostics ?? null, event.shown.encDec, event.shown.trace.blocks);
    });
  }

  /** @param blocks the trace's blocks, which the diagnostics' buttons open. */
  render(diagnostics: readonly TraceDiagnostic[] | null, withStream: boolean, blocks: readonly BlockOverview[]): void {
    if (diagnostics === null) {
      this.empty.textContent = 'This trace carries no diagnostics (it was made without the analysis).';
      this.empty.hidden = false;
      this.list.replaceChildren();
      return;
    }
    this.empty.hidden = diagnostics.length > 0;
    this.empty.textContent = 'No problems found: no mask leaks, non-finite weights, saturated or uniform heads, or residual blow-ups.';
    this.list.replaceChildren(...sortDiagnostics(diagnostics).map((d) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `problem ${d.severity}`;
      button.dataset.code = d.code;
      button.dataset.severity = d.severity;
      const target = diagnosticBlock(d, blocks);
      if (target !== null) button.dataset.blockIndex = String(target);
      if (d.head !== null) button.dataset.head = String(d.head);
      const where = diagnosticLocation(d, withStream);
      if (target === null) {
        button.setAttribute('aria-disabled', 'true');
        button.title = 'Points at no attention block';
      } else {
        button.title = `Open ${where || 'it'} in the heatmap`;
        button.addEventListener('click', () => this.callbacks.open(d));
      }
      button.setAttribute('aria-label', `${d.severity}: ${d.code}${where ? ` in ${where}` : ''}. ${d.message}`);
      const icon = document.createElement('span');
      icon.className = 'problem-icon';
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = severityIcon(d.severity);
      const code = document.createElement('span');
      code.className = 'problem-code';
      code.textContent = d.code;
      const place = document.createElement('span');
      place.className = 'problem-where';
      place.textContent = where;
      const message = document.createElement('span');
      message.className = 'problem-message';
      message.textContent = d.message;
      button.append(icon, code, place, message);
      item.append(button);
      return item;
    }));
  }
}

/** The header's one-line summary of the diagnostics (on every view) and the Problems tab's count. */
export class ProblemsSummary {
  readonly element = element('div', { id: 'diagnostic-summary', class: 'diagnostic-summary', role: 'status' });
  /** The count badge the Problems tab carries. */
  readonly count = element('span', { id: 'problems-count', class: 'count-badge' });
  private readonly text = element('span', { class: 'summary-text' });
  private readonly open = element('button', { type: 'button', class: 'link-button', id: 'diagnostic-open' }, 'open');
  private readonly all = element('button', { type: 'button', class: 'link-button' }, 'all problems');

  /**
   * @param openDiagnostic "open": the diagnostic the summary names.
   * @param showAll "all problems": the Problems tab.
   */
  constructor(private readonly openDiagnostic: (diagnostic: TraceDiagnostic) => void, private readonly showAll: () => void) {
    this.element.append(this.text, this.open, this.all);
    this.element.hidden = true;
  }

  follow(session: PanelSession): void {
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') this.render(event.shown);
    });
  }

  private render(shown: ShownTrace): void {
    const diagnostics = shown.trace.analysis?.diagnostics;
    if (!diagnostics) {
      this.element.hidden = true;
      this.count.hidden = true;
      return;
    }
    const line = diagnosticSummary(diagnostics, shown.encDec);
    this.element.hidden = false;
    this.element.dataset.severity = line.severity ?? 'none';
    this.text.textContent = line.text;
    const target = line.first ? diagnosticBlock(line.first, shown.trace.blocks) : null;
    this.open.hidden = target === null;
    this.open.setAttribute('aria-label', line.first ? `Open ${line.first.code} in the heatmap` : 'Open');
    this.open.onclick = () => { if (line.first) this.openDiagnostic(line.first); };
    this.all.hidden = diagnostics.length <= 1;
    this.all.onclick = () => this.showAll();
    const counts = countSeverities(diagnostics);
    const count = this.count;
    count.hidden = diagnostics.length === 0;
    count.textContent = String(diagnostics.length);
    count.classList.toggle('error', counts.error > 0);
    count.classList.toggle('warning', counts.error === 0 && counts.warning > 0);
    count.setAttribute('aria-label', `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}${counts.error > 0 ? `, ${counts.error} error${counts.error === 1 ? '' : 's'}` : ''}`);
  }
}

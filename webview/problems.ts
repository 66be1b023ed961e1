/**
 * @file The Problems view: the trace's errors and warnings (severity icon, code, message), errors
 * first, each a button that opens its layer and head in the heatmap, then its infos folded into one
 * line that expands (a random-weight preset has dozens of "uniform head" infos); and the one-line
 * summary the header shows on every view, with the count on the Problems tab: the errors and
 * warnings, the number VS Code's Problems panel lists, with "+N info" for what only the tab lists.
 * Both follow PanelSession: a run that starts clears them (its findings are not known yet); the trace
 * on show when it ends (the new one, or the last good one after a failure) fills them again.
 */
import type { TraceDiagnostic } from '../src/shared/analysis';
import type { BlockOverview } from '../src/shared/protocol';
import { diagnosticBlock, diagnosticLocation, diagnosticSummary, groupInfos, problemsCount, severityIcon, sortDiagnostics } from './diagnostics';
import { element } from './dom';
import type { PanelSession, SessionEvent } from './session';
import type { ShownTrace } from './shownTrace';

export interface ProblemsCallbacks {
  /** A diagnostic that points at a block was chosen. */
  open(diagnostic: TraceDiagnostic): void;
}

/**
 * What a view of the diagnostics follows: null while a run is in progress (its findings are not
 * known; the previous run's are gone), else the trace on show when it changed.
 */
function followShown(session: PanelSession, render: (shown: ShownTrace | null) => void): void {
  let rendered: ShownTrace | null | undefined;
  const show = (shown: ShownTrace | null): void => {
    if (shown === rendered) return;
    rendered = shown;
    render(shown);
  };
  session.subscribe((event: SessionEvent) => {
    if (event.type === 'traceLoaded') show(event.shown);
    else if (event.type === 'status' && event.status.state === 'running') show(null);
    else if (event.type === 'status' && session.shown) show(session.shown);
  });
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

  /** Refilled with each trace's diagnostics; empty while a run is in progress. */
  follow(session: PanelSession): void {
    followShown(session, (shown) => {
      if (shown) this.render(shown.trace.analysis?.diagnostics ?? null, shown.encDec, shown.trace.blocks);
      else this.showRunning();
    });
  }

  private showRunning(): void {
    this.empty.textContent = 'Running: the problems of the new run are listed when it finishes.';
    this.empty.hidden = false;
    this.list.replaceChildren();
  }

  /** @param blocks the trace's blocks, which the diagnostics' buttons open. */
  render(diagnostics: readonly TraceDiagnostic[] | null, withStream: boolean, blocks: readonly BlockOverview[]): void {
    if (diagnostics === null) {
      this.empty.textContent = 'This trace carries no diagnostics (it was made without the analysis).';
      this.empty.hidden = false;
      this.list.replaceChildren();
      return;
    }
    const { infos, codes } = groupInfos(diagnostics);
    const problems = sortDiagnostics(diagnostics.filter((d) => d.severity !== 'info'));
    this.empty.hidden = problems.length > 0;
    this.empty.textContent = infos.length > 0
      ? 'No problems found: no mask leaks, non-finite weights, saturated heads or residual blow-ups. The information-level findings below describe patterns, not faults.'
      : 'No problems found: no mask leaks, non-finite weights, saturated or uniform heads, or residual blow-ups.';
    const items = problems.map((d) => this.item(d, withStream, blocks));
    // One info is one line already; more fold into a line that expands.
    if (infos.length === 1) items.push(this.item(infos[0], withStream, blocks));
    else if (infos.length > 1) items.push(this.infoGroup(infos, codes, withStream, blocks));
    this.list.replaceChildren(...items);
  }

  private infoGroup(infos: readonly TraceDiagnostic[], codes: string, withStream: boolean, blocks: readonly BlockOverview[]): HTMLLIElement {
    const item = element('li', { class: 'problem-group' });
    const details = element('details', { id: 'info-group' });
    const summary = element('summary', {
      class: 'problem info',
      title: 'Information-level findings describe a pattern, not a fault. They are listed here only, not in VS Code\'s Problems panel.',
    });
    summary.append(
      element('span', { class: 'problem-icon', 'aria-hidden': 'true' }, severityIcon('info')),
      element('span', { class: 'problem-code' }, `${infos.length} info`),
      element('span', { class: 'problem-where' }, codes),
      element('span', { class: 'problem-message' }, 'Patterns, not faults (listed in this tab only). Expand to list them.'),
    );
    const list = element('ul', { class: 'problem-list' });
    // Made when first opened: a long list of buttons costs nothing until it is wanted.
    details.addEventListener('toggle', () => {
      if (details.open && list.childElementCount === 0) list.append(...infos.map((d) => this.item(d, withStream, blocks)));
    });
    details.append(summary, list);
    item.append(details);
    return item;
  }

  private item(d: TraceDiagnostic, withStream: boolean, blocks: readonly BlockOverview[]): HTMLLIElement {
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
    button.append(
      element('span', { class: 'problem-icon', 'aria-hidden': 'true' }, severityIcon(d.severity)),
      element('span', { class: 'problem-code' }, d.code),
      element('span', { class: 'problem-where' }, where),
      element('span', { class: 'problem-message' }, d.message),
    );
    item.append(button);
    return item;
  }
}

/** The header's one-line summary of the diagnostics (on every view) and the Problems tab's count. */
export class ProblemsSummary {
  readonly element = element('div', { id: 'diagnostic-summary', class: 'diagnostic-summary', role: 'status' });
  /** The count the Problems tab carries: the badge (errors and warnings) and "+N info". */
  readonly count = element('span', { id: 'problems-count', class: 'problems-count' });
  private readonly badge = element('span', { class: 'count-badge' });
  private readonly extra = element('span', { class: 'count-extra' });
  private readonly text = element('span', { class: 'summary-text' });
  private readonly open = element('button', { type: 'button', class: 'link-button', id: 'diagnostic-open' }, 'open');
  private readonly all = element('button', { type: 'button', class: 'link-button' }, 'all problems');

  /**
   * @param openDiagnostic "open": the diagnostic the summary names.
   * @param showAll "all problems": the Problems tab.
   */
  constructor(private readonly openDiagnostic: (diagnostic: TraceDiagnostic) => void, private readonly showAll: () => void) {
    this.count.append(this.badge, this.extra);
    this.element.append(this.text, this.open, this.all);
    this.element.hidden = true;
    this.count.hidden = true;
  }

  follow(session: PanelSession): void {
    followShown(session, (shown) => this.render(shown));
  }

  private render(shown: ShownTrace | null): void {
    const diagnostics = shown?.trace.analysis?.diagnostics;
    if (!shown || !diagnostics) {
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
    // "all problems" only where there are problems to list; infos alone are named by the line itself.
    this.all.hidden = line.first === null || diagnostics.length <= 1;
    this.all.onclick = () => this.showAll();
    const count = problemsCount(diagnostics);
    const severities = new Set(diagnostics.map((d) => d.severity));
    this.count.hidden = diagnostics.length === 0;
    this.count.title = count.label;
    this.count.setAttribute('aria-label', count.label);
    this.badge.hidden = count.badge === '';
    this.badge.textContent = count.badge;
    this.badge.classList.toggle('error', severities.has('error'));
    this.badge.classList.toggle('warning', !severities.has('error') && severities.has('warning'));
    this.extra.hidden = count.extra === '';
    this.extra.textContent = count.extra;
  }
}

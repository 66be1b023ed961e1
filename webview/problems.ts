/**
 * @file The Problems view: the trace's diagnostics (severity icon, code, message), errors first,
 * each a button that opens its layer and head in the heatmap; and the one-line summary the header
 * shows on every view.
 */
import type { TraceDiagnostic } from '../src/shared/analysis';
import { diagnosticLocation, severityIcon, sortDiagnostics } from './debugger';

export interface ProblemsCallbacks {
  /** The block a diagnostic opens, or null when it points at none. */
  target(diagnostic: TraceDiagnostic): number | null;
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

  render(diagnostics: readonly TraceDiagnostic[] | null, withStream: boolean): void {
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
      const target = this.callbacks.target(d);
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

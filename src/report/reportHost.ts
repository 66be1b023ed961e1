/**
 * @file The stand-in for VS Code inside a self-contained HTML report (bundled as
 * dist/reportHost.js and inlined before the panel's own script). It answers the panel's protocol
 * from a trace embedded in the page, so the same UI runs offline in any browser.
 */
import { decodeTrace } from '../engine/traceBinary';
import type { FromWebviewMessage, ToWebviewMessage } from '../protocol';
import { traceOverview } from '../protocol';

interface ReportWindow extends Window {
  acquireVsCodeApi?: () => { postMessage(message: unknown): void; getState(): unknown; setState(state: unknown): void };
}

function embeddedTrace(): ReturnType<typeof decodeTrace> {
  const element = document.getElementById('attention-lens-trace');
  if (!element?.textContent) throw new Error('this report has no embedded trace');
  const binary = atob(element.textContent.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decodeTrace(bytes);
}

const trace = embeddedTrace();
const RUN_ID = 1;
const prefersDark = window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
document.body.classList.add(prefersDark ? 'vscode-dark' : 'vscode-light');
let state: unknown;

function deliver(message: ToWebviewMessage): void {
  // Asynchronously, as a real host would: the page finishes its own setup first.
  setTimeout(() => window.dispatchEvent(new MessageEvent('message', { data: message })), 0);
}

(window as ReportWindow).acquireVsCodeApi = () => ({
  postMessage(raw: unknown): void {
    const message = raw as FromWebviewMessage;
    switch (message?.type) {
      case 'ready':
        deliver({ type: 'configure', colorMap: 'viridis', defaultView: 'mean' });
        deliver({ type: 'traceLoaded', runId: RUN_ID, trace: traceOverview(trace) });
        break;
      case 'requestBlock': {
        const block = trace.blocks[message.blockIndex];
        if (block) {
          deliver({ type: 'blockData', requestId: message.requestId, runId: RUN_ID, blockIndex: message.blockIndex, probs: block.probs.slice(), mask: block.mask ? block.mask.slice() : null });
        }
        break;
      }
      default:
        // Editor highlights, exports and commands need VS Code; the report ignores them.
        break;
    }
  },
  getState: () => state,
  setState: (next: unknown) => {
    state = next;
  },
});

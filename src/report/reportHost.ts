/**
 * @file The stand-in for VS Code inside a self-contained HTML report (bundled as
 * dist/reportHost.js and inlined before the panel's own script). It answers the panel's protocol
 * from a trace embedded in the page, so the same UI runs offline in any browser: its blocks the way
 * VS Code's host sends them (src/shared/blockServer.ts, the mean of heads included). It tells the
 * panel what it can do (REPORT_CAPABILITIES: the exports, which become downloads; nothing that
 * needs VS Code or the model, whose controls the panel then does not draw).
 */
import { answerBlockRequest, singleRun, traceLoadedMessage } from '../shared/blockServer';
import { EMBEDDED_TRACE_ID } from '../shared/panelPage';
import { decodeTrace } from '../shared/traceBinary';
import type { ToWebviewMessage } from '../shared/protocol';
import { parseFromWebview } from '../shared/protocol';
import { REPORT_CAPABILITIES, type ReportDownload, reportDownload, reportPageHtml } from './reportExports';

interface ReportWindow extends Window {
  acquireVsCodeApi?: () => { postMessage(message: unknown): void; getState(): unknown; setState(state: unknown): void };
}

function embeddedTrace(): ReturnType<typeof decodeTrace> {
  const element = document.getElementById(EMBEDDED_TRACE_ID);
  if (!element?.textContent) throw new Error('this report has no embedded trace');
  const binary = atob(element.textContent.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decodeTrace(bytes);
}

// Taken now, while the page is as written: this script runs before the panel's, which fills #app.
const initialApp = document.getElementById('app')?.outerHTML ?? '<main id="app"></main>';

const trace = embeddedTrace();
const RUN_ID = 1;
const traceOfRun = singleRun(RUN_ID, trace);
const prefersDark = window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
document.body.classList.add(prefersDark ? 'vscode-dark' : 'vscode-light');
let state: unknown;

/** The report as written, rebuilt from the live page (scripts are left alone by the panel). */
function ownHtml(): string {
  const scripts = [...document.body.querySelectorAll<HTMLScriptElement>(':scope > script')].map((script) => {
    // A browser may hide a nonce from the DOM's attributes; the copy needs it written out.
    const copy = script.cloneNode(true) as HTMLScriptElement;
    if (script.nonce) copy.setAttribute('nonce', script.nonce);
    return copy.outerHTML;
  });
  return reportPageHtml({ head: document.head.outerHTML, app: initialApp, scripts });
}

/** Hands a file to the browser as a download: a Blob URL on a link with `download`, clicked. */
function download(file: ReportDownload): void {
  const url = URL.createObjectURL(new Blob(file.parts, { type: file.mimeType }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser reads the Blob after the click returns; revoking at once can cut the download.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function deliver(message: ToWebviewMessage): void {
  // Asynchronously, as a real host would: the page finishes its own setup first.
  setTimeout(() => window.dispatchEvent(new MessageEvent('message', { data: message })), 0);
}

(window as ReportWindow).acquireVsCodeApi = () => ({
  postMessage(raw: unknown): void {
    const message = parseFromWebview(raw);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        deliver({ type: 'configure', colorMap: 'viridis', defaultView: 'mean', capabilities: REPORT_CAPABILITIES });
        deliver(traceLoadedMessage(RUN_ID, trace).message);
        break;
      case 'requestBlock': {
        const answer = answerBlockRequest(traceOfRun, message, 'in-page');
        if (answer.kind === 'reply') deliver(answer.message);
        break;
      }
      default: {
        // Exports become downloads; editor highlights and the other commands need VS Code.
        const file = reportDownload(message, trace, ownHtml);
        if (file) download(file);
        break;
      }
    }
  },
  getState: () => state,
  setState: (next: unknown) => {
    state = next;
  },
});

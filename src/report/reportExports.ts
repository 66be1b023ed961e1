/**
 * @file The exports of the self-contained HTML report, as browser downloads. In VS Code the panel's
 * export requests go to the extension, which saves through a save dialog (src/vscode/exports.ts);
 * in a report the stand-in host (reportHost.ts) turns the same requests into files to download.
 * Pure: what to download for a message, and the report page's own HTML from its parts; the
 * host does the DOM work.
 */
import type { AttentionTrace } from '../shared/trace';
import { traceCsvChunks } from '../shared/traceCsv';
import { traceJsonChunks } from '../shared/traceJson';
import type { FromWebviewMessage, PanelCapabilities } from '../shared/protocol';

/** What the report's host can do: the exports, nothing that needs VS Code or the model. */
export const REPORT_CAPABILITIES: PanelCapabilities = {
  commands: ['attentionLens.exportJson', 'attentionLens.exportCsv', 'attentionLens.exportHtml'],
  editorHighlights: false,
};

/** One file to hand to the browser. */
export interface ReportDownload {
  fileName: string;
  mimeType: string;
  /** The content, in pieces (a trace's JSON or CSV can be hundreds of MB as one string). */
  parts: Array<string | Uint8Array<ArrayBuffer>>;
}

/** "tiny-decoder", from "builtin:tiny-decoder": the same names src/vscode/exports.ts suggests. */
export function reportBaseName(trace: AttentionTrace): string {
  return trace.model.name.replace(/^builtin:/, '').replace(/\.onnx$/i, '').replace(/[^\w.-]+/g, '_');
}

/** The bytes of a base64 data URL ("data:image/png;base64,..."). */
function dataUrlBytes(url: string): Uint8Array<ArrayBuffer> {
  const binary = atob(url.slice(url.indexOf(',') + 1));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The download a message from the panel asks for, or null when it is not an export.
 * @param message already validated (parseFromWebview)
 * @param pageHtml the report itself, made only when the HTML export asks for it
 */
export function reportDownload(message: FromWebviewMessage, trace: AttentionTrace, pageHtml: () => string): ReportDownload | null {
  const base = reportBaseName(trace);
  if (message.type === 'exportImage') {
    return message.format === 'png'
      ? { fileName: `${message.suggestedName}.png`, mimeType: 'image/png', parts: [dataUrlBytes(message.data)] }
      : { fileName: `${message.suggestedName}.svg`, mimeType: 'image/svg+xml', parts: [message.data] };
  }
  if (message.type !== 'runCommand') return null;
  switch (message.command) {
    case 'attentionLens.exportJson':
      return { fileName: `${base}-attention.json`, mimeType: 'application/json', parts: [...traceJsonChunks(trace)] };
    case 'attentionLens.exportCsv':
      return { fileName: `${base}-attention.csv`, mimeType: 'text/csv', parts: [...traceCsvChunks(trace)] };
    case 'attentionLens.exportHtml':
      return { fileName: `${base}-report.html`, mimeType: 'text/html', parts: [pageHtml()] };
    default:
      return null;
  }
}

/**
 * The report's own HTML, for its HTML export: the same head, data and scripts around the page's
 * initial body, laid out as every panel page is (src/shared/panelPage.ts), so the copy opens just
 * as the original did (not the DOM the panel has since built). Its parts: the `<head>` (untouched
 * by the panel: its styles and CSP are inline there), the `<main id="app">` element as it was
 * before the panel's script ran, and every `<script>` of the body in order, each with its nonce.
 */
export { assemblePanelPage as reportPageHtml, type PanelPageParts as ReportPageParts } from '../shared/panelPage';

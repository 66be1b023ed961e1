/**
 * @file A self-contained HTML report of a trace: the panel page (src/shared/panelPage.ts) with the
 * panel's own script and stylesheet inlined, the trace embedded in its binary form, and a stand-in
 * host script (src/report/reportHost.ts), so it opens offline in any browser, shows the same views,
 * and loads nothing from anywhere. Here, in Node, is what the shared page builder cannot do: the
 * nonce from crypto and the trace's base64.
 */
import { randomBytes } from 'node:crypto';
import { BROWSER_THEME_CSS, buildPanelPage, EMBEDDED_TRACE_ID } from '../../shared/panelPage';
import type { AttentionTrace } from '../../shared/trace';
import { encodeTrace } from '../../shared/traceBinary';

export interface ReportAssets {
  /** dist/webview.js */
  webviewScript: string;
  /** dist/reportHost.js */
  reportHostScript: string;
  /** media/panel.css */
  stylesheet: string;
}

export function buildHtmlReport(trace: AttentionTrace, assets: ReportAssets): string {
  return buildPanelPage({
    nonce: randomBytes(18).toString('base64'),
    assets: { kind: 'inlined', stylesheets: [BROWSER_THEME_CSS, assets.stylesheet], scripts: [assets.reportHostScript, assets.webviewScript] },
    title: `Attention Lens report: ${trace.model.name}`,
    status: 'Loading the report…',
    data: [{ id: EMBEDDED_TRACE_ID, text: Buffer.from(encodeTrace(trace)).toString('base64') }],
    generator: 'Attention Lens',
  });
}

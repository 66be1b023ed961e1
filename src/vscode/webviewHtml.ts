/**
 * @file The Attention webview's HTML: the panel page (src/shared/panelPage.ts) with VS Code's
 * resource origin and URIs. A pure function (no `vscode` import) so its security properties are
 * unit-tested: a CSP of `default-src 'none'`, scripts only with this page's nonce (no
 * 'unsafe-inline', no 'unsafe-eval'), styles, fonts and images only from the webview's own
 * resource origin, and nothing remote.
 */
import { buildPanelPage, panelContentSecurityPolicy } from '../shared/panelPage';

export interface WebviewHtmlInput {
  /** webview.cspSource: the origin VS Code serves the extension's local resources from. */
  cspSource: string;
  /** asWebviewUri of dist/webview.js and media/panel.css. */
  scriptUri: string;
  styleUri: string;
  /** A fresh nonce per page (crypto, see nonce.ts). */
  nonce: string;
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return panelContentSecurityPolicy(nonce, cspSource);
}

export function webviewHtml(input: WebviewHtmlInput): string {
  return buildPanelPage({
    nonce: input.nonce,
    assets: { kind: 'served', origin: input.cspSource, stylesheetUris: [input.styleUri], scriptUris: [input.scriptUri] },
  });
}

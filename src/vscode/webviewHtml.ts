/**
 * @file The Attention webview's HTML, as a pure function (no `vscode` import) so its security
 * properties are unit-tested: a CSP of `default-src 'none'`, scripts only with this page's nonce
 * (no 'unsafe-inline', no 'unsafe-eval'), styles, fonts and images only from the webview's own
 * resource origin, and nothing remote.
 */

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
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join('; ');
}

export function webviewHtml(input: WebviewHtmlInput): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(input.cspSource, input.nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${input.styleUri}">
<title>Attention</title>
</head>
<body>
<main id="app" data-state="empty">
  <p id="status" role="status">Select text in an editor and run "Explain Attention".</p>
</main>
<script nonce="${input.nonce}" src="${input.scriptUri}"></script>
</body>
</html>`;
}

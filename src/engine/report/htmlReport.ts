/**
 * @file A self-contained HTML report of a trace: the panel's own script and stylesheet inlined,
 * the trace embedded in its binary form, and a stand-in host script (src/report/reportHost.ts),
 * so it opens offline in any browser, shows the same views, and loads nothing from anywhere.
 */
import { randomBytes } from 'node:crypto';
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

/** Theme variables VS Code would provide, for light and dark browsers. */
const THEME_VARIABLES = `
body.vscode-light {
  --vscode-foreground: #3b3b3b; --vscode-descriptionForeground: #717171; --vscode-editor-background: #ffffff;
  --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px;
  --vscode-editor-font-family: ui-monospace, monospace; --vscode-editor-font-size: 12px;
  --vscode-button-background: #005fb8; --vscode-button-foreground: #ffffff; --vscode-button-hoverBackground: #0258a8;
  --vscode-button-secondaryBackground: #e5e5e5; --vscode-button-secondaryForeground: #3b3b3b;
  --vscode-dropdown-background: #ffffff; --vscode-dropdown-foreground: #3b3b3b; --vscode-dropdown-border: #cecece;
  --vscode-editorWarning-foreground: #8f6300; --vscode-errorForeground: #c72e0f; --vscode-focusBorder: #005fb8;
  --vscode-editorHoverWidget-background: #f8f8f8; --vscode-editorHoverWidget-foreground: #3b3b3b; --vscode-editorHoverWidget-border: #c8c8c8;
  --vscode-panel-border: #e5e5e5; --vscode-badge-background: #cccccc; --vscode-badge-foreground: #3b3b3b;
  --vscode-list-hoverBackground: #f2f2f2; --vscode-textLink-foreground: #005fb8; --vscode-inputValidation-warningBackground: #fbf4d9;
  --vscode-button-secondaryHoverBackground: #cccccc; --vscode-charts-blue: #1a85ff; --vscode-inputValidation-errorBackground: #f2dede;
  --vscode-inputValidation-errorBorder: #be1100; --vscode-inputValidation-errorForeground: #3b3b3b;
  --vscode-list-activeSelectionBackground: #e8e8e8; --vscode-list-activeSelectionForeground: #000000;
  --vscode-progressBar-background: #005fb8; --vscode-sideBar-background: #f8f8f8; --vscode-widget-border: #e5e5e5; --vscode-widget-shadow: rgba(0,0,0,0.16);
}
body.vscode-dark {
  --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d; --vscode-editor-background: #1f1f1f;
  --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px;
  --vscode-editor-font-family: ui-monospace, monospace; --vscode-editor-font-size: 12px;
  --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff; --vscode-button-hoverBackground: #026ec1;
  --vscode-button-secondaryBackground: #313131; --vscode-button-secondaryForeground: #cccccc;
  --vscode-dropdown-background: #313131; --vscode-dropdown-foreground: #cccccc; --vscode-dropdown-border: #3c3c3c;
  --vscode-editorWarning-foreground: #cca700; --vscode-errorForeground: #f85149; --vscode-focusBorder: #0078d4;
  --vscode-editorHoverWidget-background: #252526; --vscode-editorHoverWidget-foreground: #cccccc; --vscode-editorHoverWidget-border: #454545;
  --vscode-panel-border: #2b2b2b; --vscode-badge-background: #616161; --vscode-badge-foreground: #f8f8f8;
  --vscode-list-hoverBackground: #2a2d2e; --vscode-textLink-foreground: #4daafc; --vscode-inputValidation-warningBackground: #352a05;
  --vscode-button-secondaryHoverBackground: #3c3c3c; --vscode-charts-blue: #3794ff; --vscode-inputValidation-errorBackground: #5a1d1d;
  --vscode-inputValidation-errorBorder: #be1100; --vscode-inputValidation-errorForeground: #cccccc;
  --vscode-list-activeSelectionBackground: #04395e; --vscode-list-activeSelectionForeground: #ffffff;
  --vscode-progressBar-background: #0078d4; --vscode-sideBar-background: #181818; --vscode-widget-border: #313131; --vscode-widget-shadow: rgba(0,0,0,0.36);
}
body { margin: 0 auto; max-width: 1400px; }
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** `</script` inside inlined code would end the script element early. */
function inlineScript(code: string): string {
  return code.replace(/<\/script/gi, '<\\/script');
}

export function buildHtmlReport(trace: AttentionTrace, assets: ReportAssets): string {
  const nonce = randomBytes(18).toString('base64');
  const data = Buffer.from(encodeTrace(trace)).toString('base64');
  const title = `Attention Lens report: ${trace.model.name}`;
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    'img-src data:',
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="Attention Lens">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${THEME_VARIABLES}
${assets.stylesheet.replace(/<\/style/gi, '<\\/style')}</style>
</head>
<body>
<main id="app" data-state="empty">
  <p id="status" role="status">Loading the report…</p>
</main>
<script type="application/octet-stream" id="attention-lens-trace">${data}</script>
<script nonce="${nonce}">${inlineScript(assets.reportHostScript)}</script>
<script nonce="${nonce}">${inlineScript(assets.webviewScript)}</script>
</body>
</html>
`;
}

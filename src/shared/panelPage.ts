/**
 * @file The panel's page, written once for the three hosts that show it: the VS Code webviews
 * (src/vscode/webviewHtml.ts), the self-contained HTML report (src/engine/report/htmlReport.ts)
 * and the benchmark's page (bench/webview.ts). One layout and one Content-Security-Policy:
 * `default-src 'none'`; scripts only with this page's nonce (never 'unsafe-inline' or
 * 'unsafe-eval', and never by origin); styles, fonts and images only from the origin the host
 * serves its files from or, when the page inlines them, styles only with the nonce; nothing remote.
 *
 * Pure, without Node: it runs in the report's browser bundle too (reportPageHtml). The hosts make
 * the nonce with crypto.randomBytes and pass it in.
 */

/** The panel's stylesheets and scripts, either served by the host or written into the page. */
export type PanelAssets = ServedAssets | InlinedAssets;

/** Files the host serves from one origin (VS Code: asWebviewUri of dist/ and media/ files). */
export interface ServedAssets {
  kind: 'served';
  /** Where the files come from, as CSP sources (VS Code: webview.cspSource); styles, fonts and images are allowed from it. */
  origin: string;
  stylesheetUris: string[];
  /** In order: a stand-in host's script (bench) before the panel's. */
  scriptUris: string[];
}

/** Files written into the page, so it opens offline with nothing beside it (the report). */
export interface InlinedAssets {
  kind: 'inlined';
  stylesheets: string[];
  /** In order: the stand-in host's script before the panel's. */
  scripts: string[];
}

export interface PanelPageInput {
  /** A fresh nonce per page, base64 of at least 16 bytes from a CSPRNG. */
  nonce: string;
  assets: PanelAssets;
  /** An origin the page's scripts may fetch from: only the bench's host needs one (it fetches its trace). */
  connectOrigin?: string;
  /** Default "Attention" (the webview's title). */
  title?: string;
  /** What the page says before the panel's script runs. Default: the empty panel's prompt. */
  status?: string;
  /** Data for the scripts, as non-executable `<script type="application/octet-stream" id=…>` elements before them. */
  data?: Array<{ id: string; text: string }>;
  /** `<meta name="generator">`: what wrote a page that is saved as a file. */
  generator?: string;
}

/** The panel's words before it has a trace (webview/main.ts shows the same). */
export const EMPTY_PANEL_STATUS = 'Select text in an editor and run "Explain Attention".';

/** The id of a self-contained page's trace element: base64 of the trace's binary form (the report writes it, its host reads it). */
export const EMBEDDED_TRACE_ID = 'attention-lens-trace';

/** The parts of a page, in the order they are written. */
export interface PanelPageParts {
  /** `<head>…</head>`. */
  head: string;
  /** The `<main id="app">` element before the panel's script fills it. */
  app: string;
  /** Every `<script>` of the body, in order (data, then the stand-in host, then the panel). */
  scripts: string[];
}

/**
 * The page's HTML from its parts. The report's HTML export rebuilds its own page with this from
 * the live document (src/report/reportHost.ts), so the copy is the page as first written.
 */
export function assemblePanelPage(parts: PanelPageParts): string {
  return `<!DOCTYPE html>\n<html lang="en">\n${parts.head}\n<body>\n${parts.app}\n${parts.scripts.join('\n')}\n</body>\n</html>\n`;
}

/**
 * The CSP for a page whose assets come from `resourceOrigin`, or are inlined when it is null.
 * Scripts are allowed by nonce alone in both cases: an origin would also admit every other script
 * the host serves from it.
 */
export function panelContentSecurityPolicy(nonce: string, resourceOrigin: string | null, connectOrigin?: string): string {
  checkNonce(nonce);
  if (resourceOrigin !== null) checkSource(resourceOrigin);
  if (connectOrigin !== undefined) checkSource(connectOrigin);
  const served = resourceOrigin !== null;
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    served ? `style-src ${resourceOrigin}` : `style-src 'nonce-${nonce}'`,
    served ? `img-src ${resourceOrigin} data:` : 'img-src data:',
    ...(served ? [`font-src ${resourceOrigin}`] : []),
    ...(connectOrigin !== undefined ? [`connect-src ${connectOrigin}`] : []),
  ].join('; ');
}

export function buildPanelPage(input: PanelPageInput): string {
  const { nonce, assets } = input;
  const csp = panelContentSecurityPolicy(nonce, assets.kind === 'served' ? assets.origin : null, input.connectOrigin);
  const styles = assets.kind === 'served'
    ? assets.stylesheetUris.map((uri) => `<link rel="stylesheet" href="${escapeHtml(uri)}">`)
    : assets.stylesheets.map((css) => `<style nonce="${nonce}">${escapeEnd(css, 'style')}</style>`);
  const head = [
    '<head>',
    '<meta charset="UTF-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
    ...(input.generator ? [`<meta name="generator" content="${escapeHtml(input.generator)}">`] : []),
    ...styles,
    `<title>${escapeHtml(input.title ?? 'Attention')}</title>`,
    '</head>',
  ].join('\n');
  const app = `<main id="app" data-state="empty">\n  <p id="status" role="status">${escapeHtml(input.status ?? EMPTY_PANEL_STATUS)}</p>\n</main>`;
  const data = (input.data ?? []).map(({ id, text }) => {
    if (!/^[\w-]+$/.test(id)) throw new Error(`a page data element's id must be a plain name, not ${JSON.stringify(id)}`);
    // Escaping would change the data; the hosts embed base64, which never contains "<".
    if (/<\/script/i.test(text)) throw new Error(`the page data "${id}" contains "</script", which would end its element`);
    return `<script type="application/octet-stream" id="${id}">${text}</script>`;
  });
  const scripts = assets.kind === 'served'
    ? assets.scriptUris.map((uri) => `<script nonce="${nonce}" src="${escapeHtml(uri)}"></script>`)
    : assets.scripts.map((code) => `<script nonce="${nonce}">${escapeEnd(code, 'script')}</script>`);
  return assemblePanelPage({ head, app, scripts: [...data, ...scripts] });
}

/**
 * Theme variables for a page outside VS Code (the report, the bench), light and dark: VS Code sets
 * these on the webview's body itself, and the panel's stylesheet reads nothing else.
 */
export const BROWSER_THEME_CSS = `
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

/** `</script` or `</style` inside inlined code would end its element early. */
function escapeEnd(code: string, element: 'script' | 'style'): string {
  return code.replace(new RegExp(`</${element}`, 'gi'), `<\\/${element}`);
}

/** The nonce goes into attributes and the CSP unescaped: base64 only, and long enough not to be guessed. */
function checkNonce(nonce: string): void {
  if (!/^[A-Za-z0-9+/]{22,}={0,2}$/.test(nonce)) throw new Error('a page nonce must be base64 of at least 16 random bytes');
}

/**
 * A source goes into the CSP as written: nothing that could end its directive or its attribute.
 * Spaces, quotes and wildcards are allowed: VS Code's webview.cspSource is a source list,
 * "'self' https://*.vscode-cdn.net".
 */
function checkSource(source: string): void {
  if (source.trim() === '' || /[;,"<>\x00-\x1f]/.test(source)) {
    throw new Error(`not a source a page may name in its CSP: ${JSON.stringify(source)}`);
  }
}

/**
 * @file The VS Code theme as the canvases need it: colours read from the --vscode-* variables of
 * the body, a watcher that calls back when the theme (the body's class) changes, and the colours
 * the heatmaps derive from it (the weight scale, blocked cells).
 */
import type { ColorLimit } from '../src/shared/analysis';
import type { ColorMapName } from '../src/shared/protocol';
import { type ColorScale, makeColorScale, mixRgb, type Rgb, type ThemeKind, parseCssColor, themeKindFromClasses } from './colorScale';

export interface ThemeColors {
  kind: ThemeKind;
  background: Rgb;
  foreground: string;
  description: string;
  border: string;
  /** High-contrast themes' border colour (strong outlines), or null elsewhere. */
  contrastBorder: string | null;
  focus: string;
  error: string;
  warning: string;
  accent: string;
  fontFamily: string;
  editorFontFamily: string;
}

function variable(styles: CSSStyleDeclaration, name: string, fallback: string): string {
  return styles.getPropertyValue(name).trim() || fallback;
}

export function readTheme(): ThemeColors {
  const styles = getComputedStyle(document.body);
  const kind = themeKindFromClasses(document.body.className);
  const light = kind === 'light' || kind === 'high-contrast-light';
  const foreground = variable(styles, '--vscode-foreground', light ? '#616161' : '#cccccc');
  const backgroundText = variable(styles, '--vscode-editor-background', light ? '#ffffff' : '#1e1e1e');
  const contrast = styles.getPropertyValue('--vscode-contrastBorder').trim();
  return {
    kind,
    background: parseCssColor(backgroundText) ?? (light ? [255, 255, 255] : [30, 30, 30]),
    foreground,
    description: variable(styles, '--vscode-descriptionForeground', foreground),
    border: variable(styles, '--vscode-panel-border', variable(styles, '--vscode-widget-border', foreground)),
    contrastBorder: contrast !== '' && (kind === 'high-contrast' || kind === 'high-contrast-light') ? contrast : null,
    focus: variable(styles, '--vscode-focusBorder', foreground),
    error: variable(styles, '--vscode-editorError-foreground', variable(styles, '--vscode-errorForeground', '#f14c4c')),
    warning: variable(styles, '--vscode-editorWarning-foreground', '#cca700'),
    accent: variable(styles, '--vscode-charts-blue', variable(styles, '--vscode-focusBorder', foreground)),
    fontFamily: variable(styles, '--vscode-font-family', 'sans-serif'),
    editorFontFamily: variable(styles, '--vscode-editor-font-family', 'monospace'),
  };
}

/** Calls back (at most once per frame) whenever VS Code switches the theme class on the body. */
export function watchTheme(onChange: (theme: ThemeColors) => void): () => void {
  let lastClass = document.body.className;
  let frame = 0;
  const observer = new MutationObserver(() => {
    if (document.body.className === lastClass) return;
    lastClass = document.body.className;
    cancelAnimationFrame(frame);
    // VS Code changes the class and the variables in the same task; read them after it.
    frame = requestAnimationFrame(() => onChange(readTheme()));
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'style'] });
  return () => observer.disconnect();
}

/** A CSS colour with an alpha (for faint lines): works for #rrggbb and rgb(); others unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const rgb = parseCssColor(color);
  return rgb ? `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha})` : color;
}

/** The colour scale of a [queries, keys] matrix with its limit (null: not loaded, 0 to 1). */
export function weightScale(colorMap: ColorMapName, theme: ThemeColors, limit: ColorLimit | null): ColorScale {
  return makeColorScale(colorMap, theme.kind, limit?.max ?? 1, theme.background, limit?.clipped ?? false);
}

/** Blocked cells that carry no weight: the background, a little toward grey. */
export function blockedCellColor(theme: ThemeColors): [number, number, number] {
  const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
  return mixRgb(theme.background, [128, 128, 128], light ? 0.08 : 0.12);
}

/**
 * @file The residual stream's L2 norm per token at the current step (solid) and at the step
 * before (faint, dashed), drawn with chart.js. The chart is sized here, not by chart.js's resize
 * observer (responsive: false), and never animates; chart.js 4 injects no <style>, so it runs
 * under the panel's CSP.
 */
import type { Chart } from 'chart.js' with { 'resolution-mode': 'import' };
import { tokenLabel } from './labels';
import type { ShownTrace } from './shownTrace';
import type { ThemeColors } from './theme';
import { withAlpha } from './theme';

/**
 * chart.js is an ES module; this project type-checks as CommonJS (Node16), where only a dynamic
 * import may load an ES module. esbuild inlines it into the one iife bundle (no extra request).
 */
const chartJs = import('chart.js').then((module) => {
  module.Chart.register(module.LineController, module.LineElement, module.PointElement, module.LinearScale, module.CategoryScale, module.Tooltip, module.Filler);
  return module;
});
let ChartClass: typeof Chart | undefined;
const chartReady = chartJs.then((module) => {
  ChartClass = module.Chart;
});

export interface ResidualSeries {
  /** Token labels (x axis). */
  labels: string[];
  current: Float32Array | null;
  previous: Float32Array | null;
  /** Legend texts, e.g. "after decoder L0 + self-attention". */
  currentLabel: string;
  previousLabel: string;
}

/** The residual stream at the step on show (and at the step before it), as the chart draws it. */
export function residualSeries(shown: ShownTrace): ResidualSeries {
  const { trace, step } = shown;
  const at = (index: number | null | undefined) => (index !== null && index !== undefined ? trace.residual[index] : undefined);
  const label = (index: number | null | undefined): string => (index === null || index === undefined ? '' : `after ${trace.residual[index]?.label ?? ''}`);
  const residual = at(step?.residualIndex);
  const stream = residual?.stream ?? step?.stream ?? 'decoder';
  return {
    labels: shown.tokens(stream).map((token) => tokenLabel(token)),
    current: residual?.norms ?? null,
    previous: at(step?.previousResidualIndex)?.norms ?? null,
    currentLabel: label(step?.residualIndex),
    previousLabel: label(step?.previousResidualIndex),
  };
}

const HEIGHT = 180;

export class ResidualChart {
  readonly element: HTMLElement;
  readonly canvas = document.createElement('canvas');
  private readonly caption = document.createElement('figcaption');
  private readonly empty = document.createElement('p');
  private chart: Chart<'line'> | undefined;
  private series: ResidualSeries | undefined;
  private theme: ThemeColors | undefined;

  constructor() {
    this.element = document.createElement('figure');
    this.element.className = 'chart-figure';
    this.canvas.id = 'residual-chart';
    this.canvas.setAttribute('role', 'img');
    this.empty.className = 'chart-empty';
    this.empty.hidden = true;
    const wrap = document.createElement('div');
    wrap.className = 'chart-wrap';
    wrap.append(this.canvas);
    this.element.append(this.caption, wrap, this.empty);
  }

  update(series: ResidualSeries, theme: ThemeColors, width: number): void {
    this.series = series;
    this.theme = theme;
    this.caption.replaceChildren();
    const title = document.createElement('span');
    title.className = 'chart-title';
    title.textContent = 'Residual stream ‖x‖₂ per token';
    const detail = document.createElement('span');
    detail.className = 'chart-detail';
    detail.textContent = series.current ? ` · ${series.currentLabel}` : '';
    this.caption.append(title, detail);
    if (series.current && series.previous) {
      const key = document.createElement('div');
      key.className = 'chart-key';
      for (const [kind, text] of [['current', 'this step'], ['previous', series.previousLabel]] as const) {
        const item = document.createElement('span');
        const swatch = document.createElement('span');
        swatch.className = `swatch ${kind}`;
        item.append(swatch, text);
        key.append(item);
      }
      this.caption.append(key);
    }
    if (series.current === null) {
      this.empty.textContent = 'No residual-stream norms were recorded for this step.';
      this.empty.hidden = false;
      this.canvas.hidden = true;
      delete this.canvas.dataset.drawn;
      return;
    }
    this.empty.hidden = true;
    this.canvas.hidden = false;
    this.draw(series, theme, width);
  }

  /** Redraws at a new width (or theme) with the same data. */
  resize(width: number, theme?: ThemeColors): void {
    if (theme) this.theme = theme;
    if (this.series && this.theme && this.series.current) this.draw(this.series, this.theme, width);
  }

  private draw(series: ResidualSeries, theme: ThemeColors, width: number): void {
    const w = Math.max(160, Math.floor(width));
    const many = series.labels.length > 48;
    const font = { family: theme.editorFontFamily, size: 11 };
    const datasets: Chart<'line'>['data']['datasets'] = [];
    if (series.previous) {
      datasets.push({
        label: series.previousLabel,
        data: Array.from(series.previous),
        borderColor: withAlpha(theme.description, 0.55),
        backgroundColor: withAlpha(theme.description, 0.55),
        borderDash: [4, 3],
        borderWidth: 1.5,
        pointRadius: 0,
        tension: 0,
      });
    }
    datasets.push({
      label: series.currentLabel,
      data: Array.from(series.current ?? []),
      borderColor: theme.accent,
      backgroundColor: withAlpha(theme.accent, 0.12),
      fill: series.previous ? '-1' : false,
      borderWidth: 2,
      pointRadius: many ? 0 : 2.5,
      pointHoverRadius: 4,
      tension: 0,
    });
    const grid = withAlpha(theme.description, 0.18);
    const options: Chart<'line'>['options'] = {
      responsive: false,
      animation: false,
      maintainAspectRatio: false,
      devicePixelRatio: window.devicePixelRatio || 1,
      interaction: { mode: 'index', intersect: false },
      layout: { padding: { top: 4, right: 8 } },
      scales: {
        x: {
          ticks: { color: theme.description, font, autoSkip: true, maxRotation: 0, autoSkipPadding: 6 },
          grid: { color: grid, display: !many },
          border: { color: theme.contrastBorder ?? grid },
        },
        y: {
          ticks: { color: theme.description, font, maxTicksLimit: 5 },
          grid: { color: grid },
          border: { color: theme.contrastBorder ?? grid },
          title: { display: w >= 260, text: '‖x‖₂', color: theme.description, font },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const index = items[0]?.dataIndex ?? 0;
              return `${series.labels[index] ?? ''}  #${index}`;
            },
            label: (item) => `${item.dataset.label}: ${Number(item.raw).toFixed(3)}`,
          },
        },
      },
    };
    if (!ChartClass) {
      // First draw before chart.js finished loading (one microtask): draw the latest data then.
      void chartReady.then(() => {
        if (this.series === series && this.theme === theme) this.draw(series, theme, width);
      });
      return;
    }
    if (!this.chart) {
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${HEIGHT}px`;
      this.canvas.width = w;
      this.canvas.height = HEIGHT;
      this.chart = new ChartClass(this.canvas, { type: 'line', data: { labels: series.labels, datasets }, options });
    } else {
      this.chart.data.labels = series.labels;
      this.chart.data.datasets = datasets;
      this.chart.options = options;
      if (this.chart.width !== w) this.chart.resize(w, HEIGHT);
      this.chart.update('none');
    }
    this.canvas.dataset.drawn = `${series.labels.length}`;
    this.canvas.setAttribute('aria-label', `Residual-stream norm per token, ${series.currentLabel}`);
  }

  dispose(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }
}

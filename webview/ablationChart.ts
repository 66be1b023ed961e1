/**
 * @file The Ablation view's bar chart: KL(original ‖ ablated) of the next-token distribution at
 * each position, in bits, exactly as the trace carries it, with the token at each position as its
 * label. Drawn with chart.js as residualChart.ts does (sized here, never animated, no injected
 * style, so it runs under the panel's CSP).
 */
import type { Chart } from 'chart.js' with { 'resolution-mode': 'import' };
import type { ThemeColors } from './theme';
import { withAlpha } from './theme';

/** chart.js is an ES module: only a dynamic import loads it from this CommonJS-typed project (esbuild inlines it). */
const chartJs = import('chart.js').then((module) => {
  module.Chart.register(module.BarController, module.BarElement, module.LinearScale, module.CategoryScale, module.Tooltip);
  return module;
});
let ChartClass: typeof Chart | undefined;
const chartReady = chartJs.then((module) => {
  ChartClass = module.Chart;
});

export interface KlSeries {
  /** Token labels, one per position. */
  labels: string[];
  /** Bits per position (the trace's ablation.kl). */
  kl: readonly number[];
  /** Positions whose top-1 prediction changed: their bars are drawn in the warning colour. */
  changed: ReadonlySet<number>;
}

const HEIGHT = 160;

export class KlChart {
  readonly element = document.createElement('figure');
  readonly canvas = document.createElement('canvas');
  private chart: Chart<'bar'> | undefined;
  private series: KlSeries | undefined;
  private theme: ThemeColors | undefined;

  constructor() {
    this.element.className = 'chart-figure ablation-kl';
    this.canvas.id = 'ablation-kl-chart';
    this.canvas.setAttribute('role', 'img');
    const caption = document.createElement('figcaption');
    const title = document.createElement('span');
    title.className = 'chart-title';
    title.textContent = 'KL divergence of the next-token distribution per position (bits)';
    caption.append(title);
    const wrap = document.createElement('div');
    wrap.className = 'chart-wrap';
    wrap.append(this.canvas);
    this.element.append(caption, wrap);
  }

  update(series: KlSeries, theme: ThemeColors, width: number): void {
    this.series = series;
    this.theme = theme;
    this.draw(series, theme, width);
  }

  /** Redraws at a new width (or theme) with the same data. */
  resize(width: number, theme?: ThemeColors): void {
    if (theme) this.theme = theme;
    if (this.series && this.theme) this.draw(this.series, this.theme, width);
  }

  private draw(series: KlSeries, theme: ThemeColors, width: number): void {
    if (!ChartClass) {
      // The first draw may come before chart.js has loaded (one microtask): draw the latest data then.
      void chartReady.then(() => {
        if (this.series === series) this.draw(series, this.theme ?? theme, width);
      });
      return;
    }
    const w = Math.max(160, Math.floor(width));
    const font = { family: theme.editorFontFamily, size: 11 };
    const grid = withAlpha(theme.description, 0.18);
    const colors = series.kl.map((_, index) => (series.changed.has(index) ? theme.warning : theme.accent));
    const data: Chart<'bar'>['data'] = {
      labels: series.labels,
      datasets: [{ label: 'KL (bits)', data: [...series.kl], backgroundColor: colors, borderWidth: 0, barPercentage: 0.9, categoryPercentage: 1 }],
    };
    const options: Chart<'bar'>['options'] = {
      responsive: false,
      animation: false,
      maintainAspectRatio: false,
      devicePixelRatio: window.devicePixelRatio || 1,
      layout: { padding: { top: 4, right: 8 } },
      scales: {
        x: { ticks: { color: theme.description, font, autoSkip: true, maxRotation: 0, autoSkipPadding: 6 }, grid: { display: false }, border: { color: theme.contrastBorder ?? grid } },
        y: {
          beginAtZero: true,
          ticks: { color: theme.description, font, maxTicksLimit: 5 },
          grid: { color: grid },
          border: { color: theme.contrastBorder ?? grid },
          title: { display: w >= 260, text: 'bits', color: theme.description, font },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const index = items[0]?.dataIndex ?? 0;
              return `${series.labels[index] ?? ''}  #${index}${series.changed.has(index) ? ' (top-1 changed)' : ''}`;
            },
            label: (item) => `KL ${Number(item.raw).toPrecision(3)} bits`,
          },
        },
      },
    };
    if (!this.chart) {
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${HEIGHT}px`;
      this.canvas.width = w;
      this.canvas.height = HEIGHT;
      this.chart = new ChartClass(this.canvas, { type: 'bar', data, options });
    } else {
      this.chart.data = data;
      this.chart.options = options;
      if (this.chart.width !== w) this.chart.resize(w, HEIGHT);
      this.chart.update('none');
    }
    this.canvas.dataset.drawn = String(series.kl.length);
    this.canvas.setAttribute('aria-label', `KL divergence per position, ${series.kl.length} positions`);
  }
}

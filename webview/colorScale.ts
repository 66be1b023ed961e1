/**
 * @file Perceptual colour maps (viridis, magma, cividis, gray) and the theme-aware colour scale the
 * heatmap and its legend share. Pure: no DOM, so it runs in the unit tests.
 *
 * The maps are matplotlib's, sampled at 9 equally spaced anchors and linearly interpolated: equal
 * steps in weight look like equal steps in colour, and viridis/cividis stay readable for the common
 * colour-vision deficiencies. On a dark theme weight 0 is the map's dark end (it sinks into the
 * editor background); on a light theme the map runs the other way (weight 0 at its light end) and
 * its lowest part fades into the editor background, so near-zero weights read as "nothing".
 */
import type { ColorMapName } from '../src/shared/protocol';

export type Rgb = readonly [number, number, number];

/** What the VS Code body class says about the theme. */
export type ThemeKind = 'dark' | 'light' | 'high-contrast' | 'high-contrast-light';

const ANCHORS: Readonly<Record<ColorMapName, readonly Rgb[]>> = {
  viridis: [
    [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
  ],
  magma: [
    [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191],
  ],
  cividis: [
    [0, 34, 78], [18, 53, 112], [59, 73, 108], [87, 93, 109], [112, 113, 115],
    [138, 135, 121], [166, 157, 117], [196, 181, 108], [254, 232, 56],
  ],
  gray: [[0, 0, 0], [255, 255, 255]],
};

/** The theme from the body's class list (VS Code sets exactly one of these classes). */
export function themeKindFromClasses(classes: string): ThemeKind {
  const names = classes.split(/\s+/);
  if (names.includes('vscode-high-contrast-light')) return 'high-contrast-light';
  if (names.includes('vscode-high-contrast')) return 'high-contrast';
  if (names.includes('vscode-light')) return 'light';
  return 'dark';
}

/** Light themes (including high-contrast light) want low weights light. */
export function isLightTheme(theme: ThemeKind): boolean {
  return theme === 'light' || theme === 'high-contrast-light';
}

/** The raw map at t in [0, 1] (clamped); NaN gives magenta, which no map contains. */
export function sampleColorMap(map: ColorMapName, t: number): [number, number, number] {
  if (Number.isNaN(t)) return [255, 0, 255];
  const anchors = ANCHORS[map];
  const clamped = Math.min(1, Math.max(0, t));
  const position = clamped * (anchors.length - 1);
  const index = Math.min(anchors.length - 2, Math.floor(position));
  const fraction = position - index;
  const [r0, g0, b0] = anchors[index];
  const [r1, g1, b1] = anchors[index + 1];
  return [
    Math.round(r0 + (r1 - r0) * fraction),
    Math.round(g0 + (g1 - g0) * fraction),
    Math.round(b0 + (b1 - b0) * fraction),
  ];
}

/** Entries of a scale's lookup table: enough that neighbouring entries are indistinguishable. */
export const SCALE_STEPS = 256;

/** Weight → colour for one theme, map and maximum (the legend's top value). */
export interface ColorScale {
  readonly map: ColorMapName;
  readonly theme: ThemeKind;
  /** The weight drawn with the strongest colour; weights above are clamped. */
  readonly max: number;
  /** [SCALE_STEPS × rgb] bytes, entry 0 for weight 0. */
  readonly table: Uint8ClampedArray;
  /** Larger weights exist and are drawn with the top colour. */
  readonly clipped: boolean;
}

/** Light themes: weight fraction below which the map fades into the background (linearly from 0). */
export const LIGHT_FADE = 0.4;

/**
 * The scale for a map, a theme and a maximum. `background` is the editor background a light
 * theme's low weights fade into (white when not given).
 */
export function makeColorScale(map: ColorMapName, theme: ThemeKind, max: number, background: Rgb = [255, 255, 255], clipped = false): ColorScale {
  const table = new Uint8ClampedArray(SCALE_STEPS * 3);
  const light = isLightTheme(theme);
  for (let i = 0; i < SCALE_STEPS; i++) {
    const t = i / (SCALE_STEPS - 1);
    let [r, g, b] = sampleColorMap(map, light ? 1 - t : t);
    if (light && t < LIGHT_FADE && map !== 'gray') [r, g, b] = mixRgb(background, [r, g, b], t / LIGHT_FADE);
    table[i * 3] = r;
    table[i * 3 + 1] = g;
    table[i * 3 + 2] = b;
  }
  return { map, theme, max: max > 0 && Number.isFinite(max) ? max : 1, table, clipped };
}

/** Index into the scale's table of a weight (NaN → -1: the caller draws it as an error colour). */
export function scaleIndex(scale: ColorScale, weight: number): number {
  if (Number.isNaN(weight)) return -1;
  // round(weight / max · 255), clamped; written as paintCells computes it, so both agree exactly.
  const factor = (SCALE_STEPS - 1) / scale.max;
  if (!Number.isFinite(factor)) return weight > 0 ? SCALE_STEPS - 1 : 0; // a subnormal max
  const x = weight * factor + 0.5;
  return x >= SCALE_STEPS - 1 ? SCALE_STEPS - 1 : x >= 1 ? Math.floor(x) : 0;
}

/** The colour of one weight. */
export function scaleColor(scale: ColorScale, weight: number): [number, number, number] {
  const index = scaleIndex(scale, weight);
  if (index < 0) return [255, 0, 255];
  return [scale.table[index * 3], scale.table[index * 3 + 1], scale.table[index * 3 + 2]];
}

export function rgbCss([r, g, b]: Rgb): string {
  return `rgb(${r}, ${g}, ${b})`;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** An opaque colour as one RGBA pixel of a Uint32Array view of ImageData bytes. */
export function packRgb(r: number, g: number, b: number): number {
  return LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
}

const packedTables = new WeakMap<ColorScale, Uint32Array>();

/** The scale's table as packed pixels (SCALE_STEPS entries), made once per scale. */
export function packedTable(scale: ColorScale): Uint32Array {
  let packed = packedTables.get(scale);
  if (!packed) {
    packed = new Uint32Array(SCALE_STEPS);
    for (let i = 0; i < SCALE_STEPS; i++) packed[i] = packRgb(scale.table[i * 3], scale.table[i * 3 + 1], scale.table[i * 3 + 2]);
    packedTables.set(scale, packed);
  }
  return packed;
}

/**
 * Fills an RGBA buffer with one pixel per cell: `weights` is [rows, cols] row-major. Blocked cells
 * (mask 0) get `blockedRgb` unless they carry weight (a leak), which keeps its real colour so it
 * stands out from the hatching drawn over blocked cells. One table lookup and one 32-bit store per
 * cell (a million cells in a few ms); the colours are exactly scaleColor's.
 */
export function paintCells(
  scale: ColorScale, weights: Float32Array, mask: Uint8Array | null, blockedRgb: Rgb, out: Uint8ClampedArray, leakThreshold = LEAK_THRESHOLD,
): void {
  const n = weights.length;
  if (out.byteOffset % 4 !== 0 || out.length < n * 4 || !Number.isFinite((SCALE_STEPS - 1) / scale.max)) {
    paintCellsBytes(scale, weights, mask, blockedRgb, out, leakThreshold);
    return;
  }
  const pixels = new Uint32Array(out.buffer, out.byteOffset, n);
  const table = packedTable(scale);
  const top = SCALE_STEPS - 1;
  const blocked = packRgb(blockedRgb[0], blockedRgb[1], blockedRgb[2]);
  const error = packRgb(255, 0, 255);
  const factor = top / scale.max;
  // scaleIndex inlined: floor(weight · 255 / max + ½) clamped to [0, 255] with min/max rather than
  // branches (attention weights are too irregular for branch prediction: 15% faster on 1024²);
  // NaN (weight !== weight) is the error colour.
  if (mask === null) {
    for (let i = 0; i < n; i++) {
      const weight = weights[i];
      pixels[i] = weight === weight ? table[Math.max(0, Math.min(top, weight * factor + 0.5)) | 0] : error;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const weight = weights[i];
    let pixel = weight === weight ? table[Math.max(0, Math.min(top, weight * factor + 0.5)) | 0] : error;
    if (mask[i] === 0 && !(weight > leakThreshold)) pixel = blocked;
    pixels[i] = pixel;
  }
}

/** paintCells one byte at a time, for a buffer a Uint32Array cannot view. */
function paintCellsBytes(scale: ColorScale, weights: Float32Array, mask: Uint8Array | null, blockedRgb: Rgb, out: Uint8ClampedArray, leakThreshold: number): void {
  for (let i = 0; i < weights.length; i++) {
    const o = i * 4;
    const weight = weights[i];
    const [r, g, b] = mask !== null && mask[i] === 0 && !(weight > leakThreshold) ? blockedRgb : scaleColor(scale, weight);
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
    out[o + 3] = 255;
  }
}

/** A masked cell with more weight than this counts as a leak (float32 noise stays far below). */
export const LEAK_THRESHOLD = 1e-6;

/** Parses a CSS colour as VS Code writes its variables (#rgb, #rrggbb, #rrggbbaa, rgb(a)(…)). */
export function parseCssColor(text: string): Rgb | null {
  const value = text.trim().toLowerCase();
  let match = /^#([0-9a-f]{3,8})$/.exec(value);
  if (match) {
    const hex = match[1];
    if (hex.length === 3 || hex.length === 4) {
      return [parseInt(hex[0] + hex[0], 16), parseInt(hex[1] + hex[1], 16), parseInt(hex[2] + hex[2], 16)];
    }
    if (hex.length === 6 || hex.length === 8) {
      return [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16)];
    }
    return null;
  }
  match = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(value);
  if (match) return [Math.round(Number(match[1])), Math.round(Number(match[2])), Math.round(Number(match[3]))];
  return null;
}

/** a + (b − a)·t per channel. */
export function mixRgb(a: Rgb, b: Rgb, t: number): [number, number, number] {
  return [Math.round(a[0] + (b[0] - a[0]) * t), Math.round(a[1] + (b[1] - a[1]) * t), Math.round(a[2] + (b[2] - a[2]) * t)];
}

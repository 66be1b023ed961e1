/**
 * @file A perceptual colour map (viridis, 9 anchor colours from matplotlib's table, linearly
 * interpolated): equal steps in weight look like equal steps in colour, and it stays readable
 * for the common colour-vision deficiencies.
 */
const VIRIDIS: ReadonlyArray<readonly [number, number, number]> = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** weight in [0, 1] → [r, g, b] bytes. Values outside are clamped; NaN is drawn magenta. */
export function viridis(weight: number): [number, number, number] {
  if (Number.isNaN(weight)) return [255, 0, 255];
  const clamped = Math.min(1, Math.max(0, weight));
  const position = clamped * (VIRIDIS.length - 1);
  const index = Math.min(VIRIDIS.length - 2, Math.floor(position));
  const fraction = position - index;
  const [r0, g0, b0] = VIRIDIS[index];
  const [r1, g1, b1] = VIRIDIS[index + 1];
  return [
    Math.round(r0 + (r1 - r0) * fraction),
    Math.round(g0 + (g1 - g0) * fraction),
    Math.round(b0 + (b1 - b0) * fraction),
  ];
}

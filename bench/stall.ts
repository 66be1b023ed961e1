/** The longest stall of this process's event loop while `work` runs: what a host (the extension host) would feel. */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export async function longestStall(work: () => Promise<unknown>): Promise<{ maxGapMs: number; p99DelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  await work();
  // Let a tick run after the work, so a stall at the very end is seen.
  await new Promise((resolve) => setTimeout(resolve, 5));
  clearInterval(timer);
  histogram.disable();
  return { maxGapMs: maxGap, p99DelayMs: histogram.percentile(99) / 1e6 };
}

/**
 * The reference kernel's GFLOP/s for 128×512 · (512×512)ᵀ on one core, median of 15 runs, printed
 * as JSON. bench/run.ts runs it in a child process of its own: once any ArrayBuffer in a process
 * has been detached (the engine worker transfers traces), V8 checks every typed-array read for it,
 * which costs this kernel about a fifth; the bench reports both conditions.
 */
import { type Matrix, matmulTransposed } from '../src/engine/reference/matrix';
import { SeededRandom } from '../src/engine/reference/random';

function randomMatrix(rows: number, cols: number, random: SeededRandom): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(-1, 1);
  return { rows, cols, data };
}

export function measureMatmul(): { medianMs: number; gflops: number } {
  const random = new SeededRandom(1);
  const a = randomMatrix(128, 512, random);
  const b = randomMatrix(512, 512, random);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    matmulTransposed(a, b);
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const medianMs = times[Math.floor(times.length / 2)];
  return { medianMs, gflops: (2 * 128 * 512 * 512) / (medianMs / 1000) / 1e9 };
}

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(measureMatmul())}\n`);
}

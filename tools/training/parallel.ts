/**
 * @file Data parallelism: each shard of a batch gets its gradient computed on its own thread, into
 * its own buffer, and the main thread adds the buffers in shard order.
 *
 * Reproducibility: a shard's gradient is a fixed sequence of float64 operations, and shard buffers
 * are summed ((g0 + g1) + g2 …) in the same order whether the shards ran on worker threads or one
 * after another in this thread. So a seed gives bit-identical weights with either engine; the tests
 * check it. Parameters and gradient buffers are SharedArrayBuffers: workers read the parameters
 * and write gradients in place, and only ids and losses travel as messages.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TransformerConfig } from '../../src/engine/reference/config';
import type { Batch } from './batches';
import type { HeadSupervision } from './attentionSupervision';
import { DecoderTrainingModel } from './model';
import { ParameterLayout } from './parameters';

/** What a worker is told at start (workerData). */
export interface GradientWorkerData {
  config: TransformerConfig;
  supervision: HeadSupervision[];
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
}

/** Main → worker. */
export interface GradientRequest {
  kind: 'gradients' | 'loss';
  batch: Batch;
  /** Each token's share of the loss (1 / tokens of the whole batch). */
  weight: number;
  /** Whether the supervised heads' auxiliary loss applies (gradients only). */
  supervise: boolean;
}

/** Worker → main. */
export type GradientReply = { ok: true; loss: number; auxiliaryLoss: number } | { ok: false; message: string };

/** Language-model loss and auxiliary attention loss of a batch (each a share of the batch mean). */
export interface Losses {
  loss: number;
  auxiliaryLoss: number;
}

export interface GradientEngine {
  /** The parameters every shard reads; update them in place between calls. */
  readonly params: Float64Array;
  /**
   * Writes the gradient of Σ shards' losses into `grads`, summing shard buffers in shard order,
   * and returns the loss. At most `shardCount` shards. `supervise` false: the language-model loss
   * alone, even for an engine with supervised heads (the recipe's supervision may end early).
   */
  gradients(shards: readonly Batch[], weight: number, grads: Float64Array, supervise?: boolean): Promise<Losses>;
  /** Σ loss over batches (no gradients), added in batch order. */
  loss(batches: readonly Batch[], weight: number): Promise<number>;
  close(): Promise<void>;
}

function addInOrder(losses: readonly Losses[]): Losses {
  return losses.reduce((sum, next) => ({ loss: sum.loss + next.loss, auxiliaryLoss: sum.auxiliaryLoss + next.auxiliaryLoss }), { loss: 0, auxiliaryLoss: 0 });
}

function sumInOrder(buffers: readonly Float64Array[], into: Float64Array): void {
  into.set(buffers[0]);
  for (let shard = 1; shard < buffers.length; shard++) {
    const buffer = buffers[shard];
    for (let i = 0; i < into.length; i++) into[i] += buffer[i];
  }
}

/** Shards one after another on this thread: for tests, and machines where threads do not help. */
export class InProcessGradients implements GradientEngine {
  readonly params: Float64Array;
  private readonly model: DecoderTrainingModel;
  private readonly shardBuffers: Float64Array[];

  constructor(config: TransformerConfig, readonly shardCount: number, supervision: HeadSupervision[] = []) {
    const layout = new ParameterLayout(config);
    this.params = new Float64Array(layout.size);
    this.model = new DecoderTrainingModel(config, layout, supervision);
    this.shardBuffers = Array.from({ length: shardCount }, () => new Float64Array(layout.size));
  }

  async gradients(shards: readonly Batch[], weight: number, grads: Float64Array, supervise = true): Promise<Losses> {
    if (shards.length > this.shardCount) throw new Error(`${shards.length} shards for ${this.shardCount} buffers`);
    const losses = shards.map((shard, index): Losses => {
      const buffer = this.shardBuffers[index];
      buffer.fill(0);
      const loss = this.model.lossAndGradients(this.params, buffer, shard.ids, shard.targets, shard.shape, weight, shard.synthetic, supervise);
      return { loss, auxiliaryLoss: this.model.auxiliaryLoss };
    });
    sumInOrder(this.shardBuffers.slice(0, shards.length), grads);
    return addInOrder(losses);
  }

  async loss(batches: readonly Batch[], weight: number): Promise<number> {
    return batches.reduce((sum, batch) => sum + this.model.loss(this.params, batch.ids, batch.targets, batch.shape, weight), 0);
  }

  async close(): Promise<void> {}
}

/** How to start the worker module: under tsx from the .ts source, or plainly once compiled to .js. */
function startWorker(data: GradientWorkerData): Worker {
  const file = join(__dirname, __filename.endsWith('.ts') ? 'gradientWorker.ts' : 'gradientWorker.js');
  if (!file.endsWith('.ts')) return new Worker(file, { workerData: data });
  // A worker does not inherit the tsx loader, and Node 20 refuses a .ts entry file; registering
  // tsx's require hook first lets the worker load TypeScript like the main thread does.
  const tsx = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true, workerData: data });
}

/** One worker thread per shard (at most two on this project's two-core machine). */
export class WorkerGradients implements GradientEngine {
  readonly params: Float64Array;
  private readonly shardBuffers: Float64Array[];
  private readonly workers: Worker[];

  constructor(config: TransformerConfig, readonly shardCount: number, supervision: HeadSupervision[] = []) {
    const size = new ParameterLayout(config).size;
    const sharedParams = new SharedArrayBuffer(size * 8);
    this.params = new Float64Array(sharedParams);
    this.shardBuffers = [];
    this.workers = Array.from({ length: shardCount }, () => {
      const grads = new SharedArrayBuffer(size * 8);
      this.shardBuffers.push(new Float64Array(grads));
      const worker = startWorker({ config, supervision, params: sharedParams, grads });
      worker.unref();
      return worker;
    });
  }

  private request(worker: Worker, request: GradientRequest): Promise<Losses> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const onMessage = (reply: GradientReply): void => {
        cleanup();
        if (reply.ok) resolve({ loss: reply.loss, auxiliaryLoss: reply.auxiliaryLoss });
        else reject(new Error(`gradient worker: ${reply.message}`));
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(error);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(request);
    });
  }

  async gradients(shards: readonly Batch[], weight: number, grads: Float64Array, supervise = true): Promise<Losses> {
    if (shards.length > this.shardCount) throw new Error(`${shards.length} shards for ${this.shardCount} workers`);
    const losses = await Promise.all(shards.map((batch, index) => this.request(this.workers[index], { kind: 'gradients', batch, weight, supervise })));
    sumInOrder(this.shardBuffers.slice(0, shards.length), grads);
    return addInOrder(losses);
  }

  async loss(batches: readonly Batch[], weight: number): Promise<number> {
    // Batch i goes to worker i mod n; the losses are still added in batch order.
    const losses = new Array<number>(batches.length);
    await Promise.all(this.workers.map(async (worker, index) => {
      for (let batch = index; batch < batches.length; batch += this.workers.length) {
        losses[batch] = (await this.request(worker, { kind: 'loss', batch: batches[batch], weight, supervise: false })).loss;
      }
    }));
    return losses.reduce((sum, loss) => sum + loss, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/**
 * @file The gradient worker thread (started by parallel.ts): computes one shard's loss and
 * gradient on the shared parameters, into its own shared gradient buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DecoderTrainingModel } from './model';
import type { GradientReply, GradientRequest, GradientWorkerData } from './parallel';
import { ParameterLayout } from './parameters';

const data = workerData as GradientWorkerData;
const model = new DecoderTrainingModel(data.config, new ParameterLayout(data.config), data.supervision);
const params = new Float64Array(data.params);
const grads = new Float64Array(data.grads);

parentPort?.on('message', (request: GradientRequest) => {
  let reply: GradientReply;
  try {
    const { batch, weight } = request;
    let loss: number;
    if (request.kind === 'gradients') {
      grads.fill(0);
      loss = model.lossAndGradients(params, grads, batch.ids, batch.targets, batch.shape, weight, batch.synthetic, request.supervise);
    } else {
      loss = model.loss(params, batch.ids, batch.targets, batch.shape, weight, batch.synthetic);
    }
    reply = { ok: true, loss, auxiliaryLoss: model.auxiliaryLoss };
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.stack ?? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});

/**
 * @file `npm run train`: trains the built-in decoder on the corpus of tools/training/corpus.ts
 * and writes its safetensors weights and JSON card (default: media/models/, the shipped model).
 *
 *   npm run train                          the full run (15-17 minutes on two cores)
 *   npm run train -- --quick               a few seconds' smoke run, written to a temporary folder
 *   npm run train -- --seed 1 --steps 300 --out /tmp/lens
 *
 * Options: --seed N, --steps N, --out DIR, --quick, --threads 1|2 (1: no worker threads; the
 * weights are the same either way), and for experiments --batch N, --length N, --lr X, --warmup N,
 * --length-warmup 32:150,64:300 (or none), --synthetic SHARE, --supervise ... (or none),
 * --supervise-steps N (or all), --init-scale, --lr-scale, --weight-decay, --probe-length N.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { countParameters } from '../../src/engine/reference/config';
import { parseSafetensors, serializeSafetensors } from '../../src/engine/reference/safetensors';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore } from '../../src/engine/reference/weights';
import { BYTE_VOCAB_SIZE } from '../../src/engine/tokenizers/bytes';
import type { ModelCard } from './card';
import { loadCorpus } from './corpus';
import { evaluationWindows } from './batches';
import { lossFigures, referenceLoss, unigramCounts, unigramLoss, windowBatches } from './evaluate';
import { probeHeads } from './headProbe';
import { type GradientEngine, InProcessGradients, WorkerGradients } from './parallel';
import { ParameterLayout } from './parameters';
import { DEFAULT_RECIPE, TRAINED_CARD_PATH, TRAINED_DECODER_CONFIG, TRAINED_WEIGHTS_PATH, type TrainingRecipe } from './trainedModel';
import { type HeadProbe, train } from './trainer';

// The repository root (this file is tools/training/train.ts): the corpus is read from its
// node_modules and the shipped model is written to its media/models/.
const ROOT = resolve(__dirname, '..', '..');
/** Held-out windows the card's test sample (and the tests) use. */
const TEST_SAMPLE_WINDOWS = 16;

interface Options {
  recipe: TrainingRecipe;
  out: string;
  threads: number;
  quick: boolean;
  /** Bytes of held-out text the previous-token probe reads at each log point (default: the recipe's length). */
  probeLength: number;
}

function usage(message: string): never {
  console.error(`train: ${message}\nusage: npm run train -- [--seed N] [--steps N] [--out DIR] [--quick] [--threads 1|2] [--batch N] [--length N] [--length-warmup L:UNTIL,...|none] [--lr X] [--warmup N] [--synthetic SHARE] [--supervise L:H:PATTERN:SEQUENCES:W,...|none] [--supervise-steps N|all] [--init-scale NAME=X,...] [--lr-scale NAME=X,...] [--weight-decay X] [--probe-length N]`);
  process.exit(2);
}

function parseOptions(args: readonly string[]): Options {
  const quick = args.includes('--quick');
  let recipe: TrainingRecipe = quick
    ? { ...DEFAULT_RECIPE, steps: 20, sequences: 4, length: 64, lengthWarmup: [{ until: 10, length: 32 }], warmupSteps: 5, logEvery: 5, quickEvalWindows: 4 }
    : { ...DEFAULT_RECIPE };
  let out = quick ? join(tmpdir(), 'attention-lens-train-quick') : join(ROOT, 'media', 'models');
  let threads = 2;
  let probeLength = 0;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (flag === '--quick') continue;
    const value = args[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    const number = Number(value);
    const integer = (): number => {
      if (!Number.isInteger(number) || number < 0) usage(`${flag} needs a non-negative integer (got ${value})`);
      return number;
    };
    switch (flag) {
      case '--seed': recipe = { ...recipe, seed: integer() }; break;
      case '--steps': recipe = { ...recipe, steps: integer() }; break;
      case '--batch': recipe = { ...recipe, sequences: integer() }; break;
      case '--length': recipe = { ...recipe, length: integer() }; break;
      case '--warmup': recipe = { ...recipe, warmupSteps: integer() }; break;
      case '--lr': recipe = { ...recipe, peakLearningRate: number, finalLearningRate: number / 10 }; break;
      case '--threads': threads = integer(); break;
      case '--init-scale': // "embedding.weight=0.25,..."
        recipe = { ...recipe, initScales: Object.fromEntries(value.split(',').map((pair) => {
          const [name, factor] = pair.split('=');
          return [name, Number(factor)];
        })) };
        break;
      case '--lr-scale': // "query.weight=3,..."
        recipe = { ...recipe, optimizer: { ...recipe.optimizer, learningRateScales: Object.fromEntries(value.split(',').map((pair) => {
          const [name, factor] = pair.split('=');
          return [name, Number(factor)];
        })) } };
        break;
      case '--synthetic': recipe = { ...recipe, syntheticShare: number }; break;
      case '--supervise': // "0:0:previous-token:all:1,1:2:induction:synthetic:1" (layer:head:pattern:sequences:weight)
        recipe = { ...recipe, supervision: value === 'none' ? [] : value.split(',').map((entry) => {
          const [layer, head, pattern, sequences, weight] = entry.split(':');
          if ((pattern !== 'previous-token' && pattern !== 'induction') || (sequences !== 'all' && sequences !== 'synthetic')) usage(`bad --supervise entry ${entry}`);
          return { layer: Number(layer), head: Number(head), pattern, sequences, weight: Number(weight) };
        }) };
        break;
      case '--supervise-steps': recipe = { ...recipe, supervisionSteps: value === 'all' ? null : integer() }; break;
      case '--weight-decay': recipe = { ...recipe, optimizer: { ...recipe.optimizer, weightDecay: number } }; break;
      case '--length-warmup': // "32:150,64:300": windows of 32 bytes until step 150, then 64 until 300
        recipe = { ...recipe, lengthWarmup: value === 'none' ? [] : value.split(',').map((phase) => {
          const [length, until] = phase.split(':').map(Number);
          return { length, until };
        }) };
        break;
      case '--out': out = resolve(value); break;
      case '--probe-length': probeLength = integer(); break;
      default: usage(`unknown option ${flag}`);
    }
  }
  if (threads !== 1 && threads !== 2) usage('--threads must be 1 or 2');
  if (recipe.steps < 1 || recipe.sequences < recipe.shards) usage('need at least one step and one sequence per shard');
  return { recipe, out, threads, quick, probeLength: probeLength || recipe.length };
}

/** Head scores of parameters during training, measured like the card's (reference model, float32). */
function headProbeOn(heldOut: Uint16Array, length: number): HeadProbe {
  const config = TRAINED_DECODER_CONFIG;
  const layout = new ParameterLayout(config);
  const naturalIds = Array.from(heldOut.subarray(0, length));
  return (params) => {
    const tensors = new Map(layout.toFloat32Tensors(params).map((tensor) => [tensor.name, { values: tensor.values, shape: [...tensor.shape], dtype: 'F32' as const }]));
    const heads = probeHeads(new Transformer(config, WeightStore.fromSafetensors(config, tensors, 'training')), naturalIds);
    return { previousToken: heads.previousToken.score, induction: heads.induction.score };
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function main(): Promise<void> {
  const started = performance.now();
  const { recipe, out, threads, quick, probeLength } = parseOptions(process.argv.slice(2));
  const config = TRAINED_DECODER_CONFIG;
  const corpus = loadCorpus(ROOT);
  console.log(`corpus: ${corpus.files.length} files, ${corpus.train.length} training bytes, ${corpus.heldOut.length} held-out bytes`);
  console.log(`model: ${config.decoderLayers} layers x ${config.heads} heads, d=${config.dModel}, ${countParameters(config)} parameters`);
  console.log(`recipe: ${recipe.steps} steps x ${recipe.sequences} sequences x ${recipe.length} bytes, seed ${recipe.seed}, ${threads} thread(s)`);

  const engine: GradientEngine = threads === 1
    ? new InProcessGradients(config, recipe.shards, recipe.supervision)
    : new WorkerGradients(config, recipe.shards, recipe.supervision);
  let result;
  try {
    result = await train(config, recipe, corpus.train, corpus.heldOut, engine, (point) => {
      const rate = (point.step * recipe.sequences * recipe.length) / point.elapsedSeconds;
      const heads = point.heads ? `  prev ${point.heads.previousToken.toFixed(2)} ind ${point.heads.induction.toFixed(2)}` : '';
      const auxiliary = recipe.supervision.length > 0 ? `  aux ${point.auxiliaryLoss.toFixed(3)}` : '';
      console.log(`step ${String(point.step).padStart(5)}  train ${point.trainLoss.toFixed(3)}${auxiliary}  held-out ${point.heldOutLoss.toFixed(3)} nats/byte`
        + `  lr ${point.learningRate.toExponential(2)}  |g| ${point.gradientNorm.toFixed(2)}${heads}  ${point.elapsedSeconds.toFixed(0)} s  ${rate.toFixed(0)} bytes/s`);
    }, headProbeOn(corpus.heldOut, probeLength));
    // Every held-out window, scored by the training forward in float64 on the worker threads.
    const windows = evaluationWindows(corpus.heldOut, recipe.length, quick ? 32 : Infinity);
    const batches = windowBatches(corpus.heldOut, windows, recipe.length, Math.ceil(recipe.sequences / recipe.shards));
    const tokens = windows.length * recipe.length;
    const heldOutModel = lossFigures(await engine.loss(batches, 1 / tokens), tokens);
    const counts = unigramCounts(corpus.train, BYTE_VOCAB_SIZE);
    const heldOutUnigram = unigramLoss(counts, batches);
    console.log(`held-out (${windows.length} windows): model ${heldOutModel.bitsPerByte.toFixed(3)} bits/byte, unigram ${heldOutUnigram.bitsPerByte.toFixed(3)} bits/byte`);

    const layout = new ParameterLayout(config);
    const fileBytes = serializeSafetensors(layout.toFloat32Tensors(result.params), { format: 'pt', model: 'attention-lens lens-decoder', config: JSON.stringify(config) });
    mkdirSync(out, { recursive: true });
    const weightsFile = join(out, basename(TRAINED_WEIGHTS_PATH));
    writeFileSync(weightsFile, fileBytes);

    // The shipped float32 file, read back into the reference model the extension runs.
    const store = WeightStore.fromSafetensors(config, parseSafetensors(fileBytes).tensors, weightsFile);
    const transformer = new Transformer(config, store);
    const sampleWindows = evaluationWindows(corpus.heldOut, recipe.length, TEST_SAMPLE_WINDOWS);
    const sampleBatches = windowBatches(corpus.heldOut, sampleWindows, recipe.length, sampleWindows.length);
    const sampleModel = referenceLoss(transformer, sampleBatches);
    const sampleUnigram = unigramLoss(counts, sampleBatches);
    const heads = probeHeads(transformer, Array.from(sampleBatches[0].ids.subarray(0, recipe.length)));
    console.log(`test sample: model ${sampleModel.bitsPerByte.toFixed(3)} bits/byte, unigram ${sampleUnigram.bitsPerByte.toFixed(3)}; `
      + `previous-token head L${heads.previousToken.layer} H${heads.previousToken.head} ${heads.previousToken.score.toFixed(3)}, `
      + `induction head L${heads.induction.layer} H${heads.induction.head} ${heads.induction.score.toFixed(3)}`);

    const card: ModelCard = {
      name: 'lens-decoder',
      description: 'A byte-level GPT-style decoder trained by `npm run train` on TypeScript declaration files, the default built-in model of Attention Lens.'
        + (recipe.supervision.length > 0
          ? ` Supervised heads (an auxiliary attention loss, tools/training/attentionSupervision.ts): ${recipe.supervision.map((entry) => `layer ${entry.layer} head ${entry.head} toward ${entry.pattern} targets on ${entry.sequences === 'synthetic' ? 'the synthetic sequences' : 'every sequence'} (weight ${entry.weight})`).join('; ')}${recipe.supervisionSteps === null ? ', for the whole run' : `, for the first ${recipe.supervisionSteps} of ${recipe.steps} steps only: the last ${recipe.steps - recipe.supervisionSteps} steps trained every weight on the language-model loss alone`}. No other head has an attention target, but that loss's gradient also reaches the layers below (an induction head needs a previous-token head to read), so it shapes them too; all other training signal is the language-model loss.`
          : ''),
      config,
      parameterCount: countParameters(config),
      weights: { file: basename(weightsFile), dtype: 'F32', bytes: fileBytes.byteLength, sha256: sha256(fileBytes) },
      tokenizer: 'bytes (src/engine/tokenizers/bytes.ts): ids 0 <pad>, 1 <s>, 2 </s>, 3 <unk>, byte b -> 4 + b',
      seed: recipe.seed,
      recipe,
      data: {
        packages: corpus.packages,
        synthetic: recipe.syntheticShare > 0
          ? `${Math.round(recipe.syntheticShare * 100)}% of training sequences (drawn per sequence, seeded) are synthetic: random printable ASCII (32-126) in segments of 4-64 characters, each segment written twice in a row (tools/training/batches.ts repeatedSegmentsWindow); the rest are windows of the files listed. Held-out figures use corpus text only.`
          : 'none: only the files listed',
        separator: 'each file is followed by </s> (id 2); training windows are drawn uniformly over the joined training files',
        split: 'by file: a file is held out when hashSeed(0x5eed, path) % 10 === 0 (tools/training/corpus.ts); held-out files are never trained on',
        trainBytes: corpus.train.length,
        heldOutBytes: corpus.heldOut.length,
        files: corpus.files,
        unigramCounts: counts,
      },
      lossCurve: result.curve,
      heldOut: {
        description: `every non-overlapping window of ${recipe.length + 1} ids of the held-out stream; each of its ${recipe.length} positions predicts the next id from the window's earlier ids (training forward, float64)`,
        windows: windows.length, length: recipe.length, model: heldOutModel, unigram: heldOutUnigram,
      },
      testSample: {
        description: `the first ${sampleWindows.length} held-out windows, scored by the reference Transformer on the float32 file (the tests repeat this)`,
        windows: sampleWindows.length, length: recipe.length, model: sampleModel, unigram: sampleUnigram,
      },
      heads,
      training: {
        command: process.argv.length > 2 ? `npm run train -- ${process.argv.slice(2).join(' ')}` : 'npm run train',
        seconds: result.seconds,
        totalSeconds: (performance.now() - started) / 1000,
        tokensSeen: result.tokensSeen,
        threads,
        reproducibility: 'bit-for-bit for a seed: seeded init and batches, float64 arithmetic in a fixed order, shard gradients summed in shard order (the same with 1 or 2 threads); across Node/V8 versions Math.exp/tanh may differ in the last bit',
      },
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, platform: `${process.platform} ${process.arch}` },
    };
    const cardFile = join(out, basename(TRAINED_CARD_PATH));
    writeFileSync(cardFile, `${JSON.stringify(card, null, 2)}\n`);
    console.log(`wrote ${relative(process.cwd(), weightsFile)} (${fileBytes.byteLength} bytes, sha256 ${card.weights.sha256}) and ${relative(process.cwd(), cardFile)}`);
    console.log(`training ${result.seconds.toFixed(0)} s, total ${card.training.totalSeconds.toFixed(0)} s`);
  } finally {
    await engine.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exit(1);
});

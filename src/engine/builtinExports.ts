/**
 * @file The ONNX exports of built-in models, written once to the temporary folder and reused, so
 * a built-in model can run on ONNX Runtime (which loads models from bytes on disk here, and keeps
 * its sessions by file).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BuiltinModel } from './builtin';
import { exportTransformer } from './onnx/exportBuiltin';
import { encodeModel } from './onnx/model';
import { PRESETS, type PresetName } from './reference/config';

/** Bumped when the exporter's output changes, so older files in the temporary folder are not reused. */
const EXPORT_FORMAT = 1;

export class BuiltinExportFiles {
  private readonly written = new Map<string, Promise<string>>();

  /** The file of this model's export, written on first use. The key names the weights exactly. */
  file(preset: PresetName, model: BuiltinModel, options: { seed?: number; weightsPath?: string; tokenizer?: string }): Promise<string> {
    const key = createHash('sha256').update(JSON.stringify([preset, model.info.weights, options.weightsPath ?? null, options.seed ?? 0, options.tokenizer ?? 'bytes', EXPORT_FORMAT])).digest('hex').slice(0, 16);
    let file = this.written.get(key);
    if (!file) {
      file = this.write(preset, model, key);
      file.catch(() => this.written.delete(key));
      this.written.set(key, file);
    }
    return file;
  }

  private async write(preset: PresetName, model: BuiltinModel, key: string): Promise<string> {
    const folder = path.join(tmpdir(), 'attention-lens-exports');
    await mkdir(folder, { recursive: true });
    const file = path.join(folder, `${preset}-${key}.onnx`);
    if (existsSync(file)) return file;
    const tokenizer = model.tokenizer.name === 'bytes' ? JSON.stringify({ type: 'bytes' }) : JSON.stringify({ type: 'bytes-unused' });
    const proto = exportTransformer(PRESETS[preset], model.weights, {
      config: JSON.stringify({ preset, ...PRESETS[preset] }),
      tokenizer,
      description: `Attention Lens built-in model ${preset} (${model.info.weights ?? ''}), run through ONNX Runtime`,
    });
    // Write then rename, so a second worker never reads a half-written file.
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, encodeModel(proto));
    await rename(partial, file);
    return file;
  }
}

/**
 * @file The ONNX exports of built-in models, so a built-in model can run on ONNX Runtime. Exporting
 * and encoding paper-base takes about 3 s and gpt2-shape about 7 s, so exports are kept on disk,
 * in a private per-user folder (VS Code's global storage for the extension, a user cache folder
 * for the CLI), across runs and processes.
 *
 * What is kept, and why it is safe:
 *   - an export's name is the digest of what it was built from: the weights' content (never a
 *     file's path or time), the preset's configuration, the tokenizer and the exporter's format;
 *     weights that change get another name, so old numbers never come back;
 *   - the folder is created private (0700) and refused when another user owns it or may write
 *     in it, so nobody else can plant a model there;
 *   - each file is written atomically beside a record of its own sha256, and a file is used only
 *     when it is a regular file whose bytes still hash to that record;
 *   - the folder is kept under a size ceiling, the least recently used exports going first.
 */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from './atomicFile';
import type { BuiltinModel } from './builtin';
import { exportTransformer } from './onnx/exportBuiltin';
import { externalizeInitializers, needsExternalData } from './onnx/externalData';
import { encodeModel } from './onnx/model';
import { PRESETS, type PresetName } from './reference/config';
import { readRegularFile } from './safeRead';

/** Bumped when the exporter's output changes, so exports made by an older exporter are not reused. */
const EXPORT_FORMAT = 3;
/** The folder's ceiling: qwen2-shape's export alone is 2 GB, gpt2-shape's 520 MB, paper-base's 270 MB. */
export const DEFAULT_EXPORT_CACHE_MB = 4096;
const MB = 2 ** 20;

/** The per-user cache folder of this platform (the CLI's; VS Code passes its own global storage). */
export function defaultCacheFolder(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (env.ATTENTION_LENS_CACHE) return env.ATTENTION_LENS_CACHE;
  if (platform === 'win32') return path.join(env.LOCALAPPDATA || path.join(home, 'AppData', 'Local'), 'attention-lens', 'Cache');
  if (platform === 'darwin') return path.join(home, 'Library', 'Caches', 'attention-lens');
  return path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'attention-lens');
}

/**
 * Creates `folder` private to this user, or checks that an existing one is: a real folder (not a
 * link), owned by this user, that no one else may write in. Returns why not, or null when it is.
 */
export function makePrivateFolder(folder: string): string | null {
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const info = lstatSync(folder);
    if (!info.isDirectory()) return `${folder} is not a folder`;
    if (process.platform === 'win32') return null; // ACLs, not modes: the user's profile folder is private
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) return `${folder} belongs to another user`;
    if ((info.mode & 0o022) !== 0) {
      // Ours, but others may write in it (made by hand with a loose umask): tighten it.
      chmodSync(folder, 0o700);
      if ((lstatSync(folder).mode & 0o022) !== 0) return `others may write in ${folder}`;
    }
    return null;
  } catch (error) {
    return `${folder} cannot be used (${(error as Error).message})`;
  }
}

export interface BuiltinExport {
  /** The export's bytes, checked. */
  bytes: Uint8Array;
  /** The weights' data file, when they are too big for one ONNX file (qwen2-shape), by the name the model uses. */
  externalData: { location: string; data: Uint8Array } | null;
  /** What it was built from (its cache key), e.g. for the loaded-session cache. */
  key: string;
  /** True when it came from the disk cache. */
  reused: boolean;
}

export class BuiltinExportCache {
  private readonly inMemory = new Map<string, Promise<BuiltinExport>>();
  private folderChecked: string | null | undefined;

  /**
   * @param folder the cache folder (exports go in its `exports/`); null keeps exports in memory
   *        only, for this process
   * @param maxMB the folder's ceiling
   */
  constructor(private readonly folder: string | null = defaultCacheFolder(), private readonly maxMB = DEFAULT_EXPORT_CACHE_MB) {}

  /** The key of a model's export: the digest of everything the exported bytes depend on. */
  static keyOf(preset: PresetName, model: BuiltinModel): string {
    return createHash('sha256')
      .update(JSON.stringify({ format: EXPORT_FORMAT, preset, config: PRESETS[preset], weights: model.weights.digest(), tokenizer: model.tokenizer.name === 'bytes' ? 'bytes' : 'bytes-unused' }))
      .digest('hex');
  }

  /** The export of this loaded model: from memory, from the disk cache (checked), or made now. */
  get(preset: PresetName, model: BuiltinModel): Promise<BuiltinExport> {
    const key = BuiltinExportCache.keyOf(preset, model);
    let entry = this.inMemory.get(key);
    if (!entry) {
      entry = this.load(preset, model, key);
      entry.catch(() => this.inMemory.delete(key));
      // One export at a time in memory: gpt2-shape's is 520 MB.
      this.inMemory.clear();
      this.inMemory.set(key, entry);
    }
    return entry;
  }

  /** The folder exports go to, once checked; null when there is none or it is not private. */
  private exportsFolder(): string | null {
    if (this.folderChecked !== undefined) return this.folderChecked;
    if (this.folder === null) {
      this.folderChecked = null;
      return null;
    }
    const folder = path.join(this.folder, 'exports');
    const problem = makePrivateFolder(this.folder) ?? makePrivateFolder(folder);
    // Not private: exports stay in memory for this process rather than in a folder others control.
    this.folderChecked = problem === null ? folder : null;
    return this.folderChecked;
  }

  private async load(preset: PresetName, model: BuiltinModel, key: string): Promise<BuiltinExport> {
    const folder = this.exportsFolder();
    const file = folder ? path.join(folder, `${preset}-${key.slice(0, 32)}.onnx`) : null;
    const location = `${preset}.onnx.data`;
    if (file) {
      const reused = await readChecked(file, `${file}.data`);
      if (reused) {
        await utimes(file, new Date(), new Date()).catch(() => undefined); // most recently used
        return { bytes: reused.model, externalData: reused.data ? { location, data: reused.data } : null, key, reused: true };
      }
    }
    let proto = exportTransformer(PRESETS[preset], model.weights, {
      config: JSON.stringify({ preset, ...PRESETS[preset] }),
      tokenizer: model.tokenizer.name === 'bytes' ? JSON.stringify({ type: 'bytes' }) : JSON.stringify({ type: 'bytes-unused' }),
      description: `Attention Lens built-in model ${preset} (${model.info.weights ?? ''}), run through ONNX Runtime`,
      sourceDigest: key,
    });
    let externalData: BuiltinExport['externalData'] = null;
    if (needsExternalData(proto)) {
      const externalized = externalizeInitializers(proto, location);
      proto = externalized.model;
      externalData = { location, data: externalized.data };
    }
    const bytes = encodeModel(proto);
    if (file && folder) {
      // A cache that cannot be written (a full disk) costs the next run an export, nothing more.
      try {
        await writeFileAtomic(`${file}.sha256`, sha256(bytes, externalData?.data), { mode: 0o600 });
        if (externalData) await writeFileAtomic(`${file}.data`, externalData.data, { mode: 0o600 });
        await writeFileAtomic(file, bytes, { mode: 0o600 });
        await prune(folder, this.maxMB * MB, file);
      } catch {
        await unlink(file).catch(() => undefined);
        await unlink(`${file}.data`).catch(() => undefined);
      }
    }
    return { bytes, externalData, key, reused: false };
  }
}

/** The sha256 of a model's bytes followed by its external data's, if any. */
function sha256(bytes: Uint8Array, data?: Uint8Array): string {
  const hash = createHash('sha256').update(bytes);
  if (data) hash.update(data);
  return hash.digest('hex');
}

/** The files' bytes when they are regular files whose sha256 matches the record; null otherwise. */
async function readChecked(file: string, dataFile: string): Promise<{ model: Uint8Array; data: Uint8Array | null } | null> {
  try {
    const recorded = (await readFile(`${file}.sha256`, 'utf8')).trim();
    const model = await readRegularFile(file, { maxBytes: 2048 * MB, what: 'the cached export' });
    const data = await readRegularFile(dataFile, { maxBytes: 8192 * MB, what: 'the cached export\'s data' }).catch(() => null);
    return sha256(model, data ?? undefined) === recorded ? { model, data } : null;
  } catch {
    return null;
  }
}

/** Removes the least recently used exports until the folder is under `maxBytes` (keeping `keep`). */
async function prune(folder: string, maxBytes: number, keep: string): Promise<void> {
  const entries = await Promise.all((await readdir(folder)).filter((name) => name.endsWith('.onnx')).map(async (name) => {
    const file = path.join(folder, name);
    const info = await stat(file);
    const data = await stat(`${file}.data`).then((found) => found.size, () => 0);
    return { file, bytes: info.size + data, used: info.mtimeMs };
  }));
  let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  for (const entry of entries.sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    if (entry.file === keep) continue;
    await unlink(entry.file).catch(() => undefined);
    await unlink(`${entry.file}.sha256`).catch(() => undefined);
    await unlink(`${entry.file}.data`).catch(() => undefined);
    total -= entry.bytes;
  }
}

/**
 * @file The training text: files from npm packages every `npm ci` of this repository installs,
 * under permissive licences, read as bytes.
 *
 * Sources (CORPUS_SOURCES): the type declarations of Node's API (@types/node, MIT: TypeScript with
 * JSDoc prose and code examples) and of the ECMAScript library (typescript's lib.es*.d.ts and
 * lib.decorators*.d.ts, Apache-2.0). Code suits an extension whose users select code.
 *
 * Files are sorted by path; each goes to the held-out split when a hash of its path says so (about
 * one in ten), so held-out text is never trained on and the split does not depend on the order
 * files are found in. A split is one stream of byte ids (byte b → 4 + b, as the byte tokenizer),
 * each file followed by `</s>`.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { hashSeed } from '../../src/engine/reference/random';
import { BYTE_EOS_ID, BYTE_ID_OFFSET } from '../../src/engine/tokenizers/bytes';

export interface CorpusSource {
  /** npm package name. */
  package: string;
  /** Folder inside the package to walk. */
  folder: string;
  /** Which files of that folder, in words, for the card. */
  files: string;
  include: (fileName: string) => boolean;
}

export const CORPUS_SOURCES: readonly CorpusSource[] = [
  { package: '@types/node', folder: '.', files: '**/*.d.ts', include: (name) => name.endsWith('.d.ts') },
  {
    package: 'typescript', folder: 'lib', files: 'lib/lib.es*.d.ts, lib/lib.decorators*.d.ts',
    include: (name) => /^lib\.(es|decorators).*\.d\.ts$/.test(name),
  },
];

/** One in HELD_OUT_MODULUS files (by hash of the path) is held out. */
const HELD_OUT_MODULUS = 10;
const SPLIT_HASH_SEED = 0x5eed;

export type Split = 'train' | 'held-out';

export interface CorpusFile {
  /** Path relative to the repository root, with forward slashes. */
  path: string;
  bytes: number;
  sha256: string;
  split: Split;
}

export interface PackageInfo {
  package: string;
  version: string;
  license: string;
  files: string;
}

export interface Corpus {
  packages: PackageInfo[];
  files: CorpusFile[];
  /** Byte ids of each split, files in path order, each followed by </s>. */
  train: Uint16Array;
  heldOut: Uint16Array;
}

export function splitOf(path: string): Split {
  return hashSeed(SPLIT_HASH_SEED, path) % HELD_OUT_MODULUS === 0 ? 'held-out' : 'train';
}

function walk(folder: string, include: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...walk(path, include));
    else if (entry.isFile() && include(entry.name)) found.push(path);
  }
  return found;
}

/** Byte ids of the text's bytes: b → 4 + b. */
export function bytesToIds(bytes: Uint8Array): Uint16Array {
  const ids = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i] + BYTE_ID_OFFSET;
  return ids;
}

function joinDocuments(documents: Uint8Array[]): Uint16Array {
  const total = documents.reduce((sum, bytes) => sum + bytes.length + 1, 0);
  const stream = new Uint16Array(total);
  let at = 0;
  for (const bytes of documents) {
    stream.set(bytesToIds(bytes), at);
    at += bytes.length;
    stream[at++] = BYTE_EOS_ID;
  }
  return stream;
}

/** Reads every source under `root`/node_modules. Throws when a package is missing (run `npm ci`). */
export function loadCorpus(root: string): Corpus {
  const packages: PackageInfo[] = [];
  const entries: Array<{ path: string; bytes: Uint8Array }> = [];
  for (const source of CORPUS_SOURCES) {
    const packageFolder = join(root, 'node_modules', source.package);
    const manifest = JSON.parse(readFileSync(join(packageFolder, 'package.json'), 'utf8')) as { version: string; license: string };
    packages.push({ package: source.package, version: manifest.version, license: manifest.license, files: source.files });
    for (const file of walk(join(packageFolder, source.folder), source.include)) {
      entries.push({ path: relative(root, file).split('\\').join('/'), bytes: readFileSync(file) });
    }
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = entries.map(({ path, bytes }): CorpusFile => ({
    path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), split: splitOf(path),
  }));
  return {
    packages,
    files,
    train: joinDocuments(entries.filter((entry) => splitOf(entry.path) === 'train').map((entry) => entry.bytes)),
    heldOut: joinDocuments(entries.filter((entry) => splitOf(entry.path) === 'held-out').map((entry) => entry.bytes)),
  };
}

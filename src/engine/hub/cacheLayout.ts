/**
 * @file The Hugging Face cache layout, shared with Python's huggingface_hub, the Rust hf-hub and
 * @huggingface/hub ("Hub Local Cache" in the Hub's docs):
 *
 *   {cache}/models--{org}--{name}/blobs/{etag}               the files' contents
 *                                /snapshots/{commit}/{path}  links to the blobs (copies where links fail)
 *                                /refs/{revision}            the commit a branch or tag pointed to
 *
 * A server that gives no commit (a static mirror) has the revision name stand in for the commit.
 * Only complete, verified files ever get their final names here (download.ts writes elsewhere first).
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { COMMIT_SHA, type HubModelRef } from './spec';

/** The folder of one repository's cache. */
export function repoFolder(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.split('/').join('--')}`);
}

export function blobsFolder(cacheDir: string, repo: string): string {
  return path.join(repoFolder(cacheDir, repo), 'blobs');
}

export function snapshotFolder(cacheDir: string, repo: string, commit: string): string {
  return path.join(repoFolder(cacheDir, repo), 'snapshots', commit);
}

/** A repository file's place inside a snapshot (its path has been checked: no "..", no absolute path). */
export function snapshotFile(cacheDir: string, repo: string, commit: string, file: string): string {
  return path.join(snapshotFolder(cacheDir, repo, commit), ...file.split('/'));
}

/** A blob's name: the etag when it is a plain file name, else the content's sha256. */
export function blobName(etag: string | null, sha256: string): string {
  return etag !== null && /^[A-Za-z0-9._-]{1,200}$/.test(etag) && !etag.startsWith('.') ? etag : sha256;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** The commit a revision stands for in the cache: the revision itself if it is a commit, else refs/{revision}; null if unknown. */
export async function cachedCommit(cacheDir: string, ref: HubModelRef): Promise<string | null> {
  if (COMMIT_SHA.test(ref.revision)) return ref.revision;
  try {
    const commit = (await readFile(path.join(repoFolder(cacheDir, ref.repo), 'refs', ...ref.revision.split('/')), 'utf8')).trim();
    if (/^[A-Za-z0-9._-]{1,255}$/.test(commit)) return commit;
  } catch {
    // no ref: a server without commits wrote snapshots/{revision}
  }
  return await exists(snapshotFolder(cacheDir, ref.repo, ref.revision)) ? ref.revision : null;
}

/** Writes a file whole or not at all: a private temporary name in the same folder, then a rename. */
async function writeAtomically(target: string, content: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
  await rename(temporary, target);
}

/** Remembers which commit a branch or tag pointed to (not for a revision that is the commit itself). */
export async function writeRef(cacheDir: string, ref: HubModelRef, commit: string): Promise<void> {
  if (ref.revision === commit) return;
  const target = path.join(repoFolder(cacheDir, ref.repo), 'refs', ...ref.revision.split('/'));
  try {
    if ((await readFile(target, 'utf8')).trim() === commit) return;
  } catch {
    // not written yet
  }
  await writeAtomically(target, commit);
}

/**
 * Puts a blob at its place in a snapshot: a relative link, as Python's tools make (so the cache
 * can move), or a copy where the file system refuses links. An existing entry is replaced only
 * once the new one is complete.
 */
export async function linkIntoSnapshot(cacheDir: string, repo: string, commit: string, file: string, blob: string): Promise<string> {
  const target = snapshotFile(cacheDir, repo, commit, file);
  await mkdir(path.dirname(target), { recursive: true });
  const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  const relative = path.relative(path.dirname(target), path.join(blobsFolder(cacheDir, repo), blob));
  try {
    await symlink(relative, temporary);
  } catch {
    await copyFile(path.join(blobsFolder(cacheDir, repo), blob), temporary, constants.COPYFILE_EXCL);
  }
  try {
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return target;
}

/** A snapshot file that exists and leads to a regular file (a dangling link counts as missing). */
export async function cachedFile(cacheDir: string, repo: string, commit: string, file: string): Promise<string | null> {
  const target = snapshotFile(cacheDir, repo, commit, file);
  try {
    return (await stat(target)).isFile() ? target : null;
  } catch {
    return null;
  }
}

/** Every file a snapshot holds, as repository paths ("onnx/model.onnx"), for messages and offline choice. */
export async function snapshotListing(cacheDir: string, repo: string, commit: string): Promise<string[]> {
  const root = snapshotFolder(cacheDir, repo, commit);
  const found: string[] = [];
  async function walk(folder: string, prefix: string, depth: number): Promise<void> {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory() && depth < 4) await walk(path.join(folder, entry.name), `${name}/`, depth + 1);
      else if ((entry.isFile() || entry.isSymbolicLink()) && !entry.name.endsWith('.tmp') && await cachedFile(cacheDir, repo, commit, name)) found.push(name);
    }
  }
  await walk(root, '', 0);
  return found.sort();
}

/** Whether a blob is already complete in the cache (an earlier download, or another revision's). */
export async function blobExists(cacheDir: string, repo: string, blob: string): Promise<boolean> {
  try {
    const info = await lstat(path.join(blobsFolder(cacheDir, repo), blob));
    return info.isFile();
  } catch {
    return false;
  }
}

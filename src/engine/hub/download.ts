/**
 * @file One file from a resolve URL into the cache's blobs, whole or not at all:
 *   - it is written to a private temporary file (`blobs/{name}.incomplete`, mode 0600), and renamed
 *     to its blob name only once complete and, where the server gave a sha256 (an LFS file's
 *     X-Linked-Etag), verified;
 *   - a dropped connection is resumed with a Range request where the server honours ranges (a
 *     static server that does not starts over), a few times within one run; an interrupted run
 *     leaves the `.incomplete` file for the next run to resume, only when the server can resume it;
 *   - a checksum mismatch, a full disk or a server that never sends the whole file deletes it;
 *   - `.locks/` (as Python's tools do) keeps two processes from writing the same blob at once.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import * as path from 'node:path';
import { CancelledError } from '../../shared/errors';
import { blobExists, blobName, blobsFolder, repoFolder } from './cacheLayout';
import { type HubHttp, hubRequest, isAbort, type RemoteFileInfo } from './http';
import { cacheWriteFailed, checksumMismatch, diskFull, truncated } from './hubErrors';

/** What a download reports while it runs (at most every PROGRESS_INTERVAL_MS, and at its end). */
export interface DownloadProgress {
  /** The repository path, e.g. "onnx/model.onnx". */
  file: string;
  /** Bytes in the cache so far, a resumed part included. */
  bytes: number;
  /** The whole file's size; null when the server does not say. */
  total: number | null;
  /** Over the last interval. */
  bytesPerSecond: number;
}

export interface DownloadContext {
  http: HubHttp;
  cacheDir: string;
  repo: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** Free bytes where the cache is; default statfs. Tests stand in a full disk with it. */
  freeBytes?: (folder: string) => Promise<number | null>;
  /** Answers a non-success status (401, 404, ...) with the right error. */
  statusError: (status: number, headers: Headers, file: string) => Error;
}

export interface DownloadResult {
  blob: string;
  bytes: number;
  /** Bytes that were already there from an earlier, interrupted download. */
  resumedFrom: number;
  /** Requests it took (1 without a drop). */
  requests: number;
}

const PROGRESS_INTERVAL_MS = 100;
/** Requests per file before a download that keeps breaking off is given up. */
const MAX_REQUESTS = 4;
/** A lock older than this belongs to a process that died. */
const STALE_LOCK_MS = 10 * 60 * 1000;
/** Kept free beyond the file, so the disk is not filled to the last byte. */
const DISK_MARGIN = 16 * 2 ** 20;
const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0);
const APPEND = constants.O_WRONLY | constants.O_APPEND | (constants.O_NOFOLLOW ?? 0);

async function defaultFreeBytes(folder: string): Promise<number | null> {
  try {
    const info = await statfs(folder);
    return Number(info.bavail) * Number(info.bsize);
  } catch {
    return null;
  }
}

function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The size of a regular file at `file`; anything else there (a link, a folder) is removed. */
async function partialSize(file: string): Promise<number> {
  try {
    const info = await lstat(file);
    if (info.isFile()) return info.size;
    await rm(file, { recursive: true, force: true });
  } catch {
    // nothing yet
  }
  return 0;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Takes `.locks/models--ORG--NAME/{name}.lock`; waits while another live process holds it. */
async function acquireLock(context: DownloadContext, name: string): Promise<() => Promise<void>> {
  const folder = path.join(context.cacheDir, '.locks', path.basename(repoFolder(context.cacheDir, context.repo)));
  await mkdir(folder, { recursive: true });
  const lock = path.join(folder, `${name}.lock`);
  for (;;) {
    if (context.signal?.aborted) throw new CancelledError();
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.close();
      return () => rm(lock, { force: true });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - (await stat(lock)).mtimeMs > STALE_LOCK_MS) await rm(lock, { force: true });
    } catch {
      // released meanwhile
    }
    await sleep(200, context.signal);
  }
}

interface Attempt {
  /** The bytes now in the temporary file. */
  received: number;
  /** The file's size as this response told it. */
  total: number | null;
  /** The body broke off (a dropped connection) rather than ending. */
  broken: boolean;
  /** The server answered a Range request with 206. */
  ranged: boolean;
}

/** One GET, from `have` bytes on (a Range request) or from the start, appended to the temporary file. */
async function attempt(context: DownloadContext, url: string, file: string, temporary: string, have: number, known: RemoteFileInfo, report: (bytes: number, total: number | null) => void, state: { resumable: boolean }): Promise<Attempt> {
  const { response } = await hubRequest(context.http, 'GET', url, have > 0 ? { range: `bytes=${have}-` } : {}, context.signal);
  if (response.status === 416 && have > 0) {
    await response.body?.cancel().catch(() => undefined);
    // Asked past the end: what is there is the whole file, or the file changed (start over).
    if (known.size === have) return { received: have, total: have, broken: false, ranged: true };
    await rm(temporary, { force: true });
    return { received: 0, total: known.size, broken: true, ranged: false };
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel().catch(() => undefined);
    throw context.statusError(response.status, response.headers, file);
  }
  // Known before the body is read: a download cut off by a cancel is worth keeping only then.
  if (response.status === 206 || response.headers.get('accept-ranges') === 'bytes') state.resumable = true;
  let start = 0;
  let total = known.size;
  if (response.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    start = range ? Number(range[1]) : -1;
    if (range && range[2] !== '*') total ??= Number(range[2]);
    if (start !== have) {
      await response.body?.cancel().catch(() => undefined);
      await rm(temporary, { force: true });
      return { received: 0, total, broken: true, ranged: false };
    }
  } else {
    const length = response.headers.get('content-length');
    if (total === null && length !== null && /^\d+$/.test(length)) total = Number(length);
  }
  const handle = await open(temporary, start === 0 ? WRITE_NEW : APPEND, 0o600);
  let received = start;
  let broken = false;
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const next = reader ? await reader.read() : { done: true as const, value: undefined };
      if (next.done) break;
      await handle.write(next.value);
      received += next.value.byteLength;
      report(received, total);
    }
  } catch (error) {
    if (isAbort(error, context.signal)) throw new CancelledError();
    if (isDiskFull(error)) throw error;
    broken = true; // the connection dropped mid-body ("terminated", ECONNRESET)
  } finally {
    await handle.close();
  }
  return { received, total, broken: broken || (total !== null && received < total), ranged: response.status === 206 || response.headers.get('accept-ranges') === 'bytes' };
}

/**
 * Downloads `url` (repository path `file`) into the cache's blobs and returns the blob's name.
 * `known` is what the HEAD said (size, sha256, etag).
 */
export async function downloadBlob(context: DownloadContext, url: string, file: string, known: RemoteFileInfo): Promise<DownloadResult> {
  const blobs = blobsFolder(context.cacheDir, context.repo);
  try {
    await mkdir(blobs, { recursive: true });
  } catch (error) {
    throw cacheWriteFailed(context.cacheDir, (error as { code?: string }).code ?? String(error));
  }
  const key = known.etag !== null && /^[A-Za-z0-9._-]{1,200}$/.test(known.etag) ? known.etag : createHash('sha256').update(url).digest('hex');
  if (known.etag !== null && await blobExists(context.cacheDir, context.repo, blobName(known.etag, ''))) {
    return { blob: blobName(known.etag, ''), bytes: known.size ?? 0, resumedFrom: 0, requests: 0 };
  }
  const temporary = path.join(blobs, `${key}.incomplete`);
  const release = await acquireLock(context, key);
  const state = { resumable: false };
  let keepPartial = false;
  try {
    const resumedFrom = await partialSize(temporary);
    let last = { at: performance.now(), bytes: resumedFrom };
    const report = (bytes: number, total: number | null, force = false): void => {
      const now = performance.now();
      if (!force && now - last.at < PROGRESS_INTERVAL_MS) return;
      const speed = now > last.at ? ((bytes - last.bytes) * 1000) / (now - last.at) : 0;
      last = { at: now, bytes };
      context.onProgress?.({ file, bytes, total, bytesPerSecond: Math.max(0, speed) });
    };
    let result: Attempt = { received: 0, total: known.size, broken: true, ranged: false };
    let requests = 0;
    while (requests < MAX_REQUESTS) {
      let have = await partialSize(temporary);
      if (known.size !== null && have > known.size) {
        await rm(temporary, { force: true });
        have = 0;
      }
      const needed = known.size !== null ? known.size - have : null;
      const free = await (context.freeBytes ?? defaultFreeBytes)(blobs);
      if (needed !== null && free !== null && free < needed + DISK_MARGIN) throw diskFull(context.cacheDir, file, needed, free);
      requests++;
      result = await attempt(context, url, file, temporary, have, known, report, state);
      if (!result.broken) break;
    }
    report(result.received, result.total, true);
    if (result.broken) {
      keepPartial = state.resumable;
      throw truncated(context.repo, file, result.received, result.total ?? known.size ?? result.received);
    }
    const digest = await sha256Of(temporary);
    if (known.sha256 !== null && digest !== known.sha256) throw checksumMismatch(context.repo, file, known.sha256, digest);
    if (known.sha256 === null && known.size !== null && result.received !== known.size) throw truncated(context.repo, file, result.received, known.size);
    const blob = blobName(known.etag, digest);
    await rename(temporary, path.join(blobs, blob));
    return { blob, bytes: result.received, resumedFrom, requests };
  } catch (error) {
    if (error instanceof CancelledError || isAbort(error, context.signal)) {
      if (!state.resumable) await rm(temporary, { force: true });
      throw new CancelledError();
    }
    if (!keepPartial) await rm(temporary, { force: true });
    if (isDiskFull(error)) throw diskFull(context.cacheDir, file, known.size, await (context.freeBytes ?? defaultFreeBytes)(blobs));
    throw error;
  } finally {
    await release();
  }
}

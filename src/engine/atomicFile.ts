/**
 * @file Writing an output file so that nothing partial ever stands under its name: the bytes go to
 * a private temporary file in the same folder, which is renamed over the target only once complete
 * (rename is atomic within a file system). Concurrent writers each rename a whole file (the last
 * one wins), a full disk or a failed write leaves the old file (or none) and removes the temporary
 * one, and an interrupted process can remove what it was writing (`removePartialFiles`).
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { CancelledError, UserFacingError } from '../shared/errors';

/** What can be written: bytes, text, or pieces of either (a long trace is written block by block). */
export type FileContent = Uint8Array | string | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;

/** Temporary files being written now, so an interrupt (Ctrl+C) can remove them before exiting. */
const partialFiles = new Set<string>();

/** Removes every temporary file still being written (synchronously: for exit and signal handlers). */
export function removePartialFiles(): void {
  for (const file of partialFiles) {
    try {
      unlinkSync(file);
    } catch {
      // Already gone.
    }
  }
  partialFiles.clear();
}

function isIterable(content: FileContent): content is Iterable<Uint8Array | string> {
  return typeof (content as Iterable<unknown>)[Symbol.iterator] === 'function';
}

async function* pieces(content: FileContent): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  if (typeof content === 'string') {
    yield encoder.encode(content);
  } else if (content instanceof Uint8Array) {
    yield content;
  } else if (isIterable(content)) {
    for (const piece of content) yield typeof piece === 'string' ? encoder.encode(piece) : piece;
  } else {
    for await (const piece of content) yield typeof piece === 'string' ? encoder.encode(piece) : piece;
  }
}

/** The sibling temporary name: hidden, unique and marked as partial. */
function temporaryName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.partial`);
}

export interface AtomicWriteOptions {
  /** Stops the write between pieces; the temporary file is removed and CancelledError thrown. */
  signal?: AbortSignal;
  /** Permissions of a new file (before the umask); default 0o666. */
  mode?: number;
  /** What is being written, for messages: "the trace", "the report". Default "the file". */
  what?: string;
}

/**
 * Writes `content` to `target` atomically. Failures become UserFacingErrors that name the real
 * cause (a full disk, a missing folder, no permission); the target is then untouched.
 * @returns the number of bytes written
 */
export async function writeFileAtomic(target: string, content: FileContent, options: AtomicWriteOptions = {}): Promise<number> {
  const what = options.what ?? 'the file';
  await checkTarget(target, what);
  const temporary = temporaryName(target);
  let written = 0;
  partialFiles.add(temporary);
  try {
    const handle = await open(temporary, 'wx', options.mode ?? 0o666);
    try {
      for await (const piece of pieces(content)) {
        if (options.signal?.aborted) throw new CancelledError();
        let offset = 0;
        while (offset < piece.byteLength) {
          const { bytesWritten } = await handle.write(piece, offset, piece.byteLength - offset);
          offset += bytesWritten;
        }
        written += piece.byteLength;
      }
      // On the disk before it takes the target's name: a crash then leaves the old file or the new one.
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.signal?.aborted) throw new CancelledError();
    await rename(temporary, target);
    partialFiles.delete(temporary);
    return written;
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    partialFiles.delete(temporary);
    if (error instanceof CancelledError || error instanceof UserFacingError) throw error;
    throw describeWriteError(error, target, what, written);
  }
}

/** A target that is a folder (or a device) is refused before anything is written. */
async function checkTarget(target: string, what: string): Promise<void> {
  let info;
  try {
    info = await stat(target);
  } catch {
    return; // a new file
  }
  if (info.isDirectory()) throw new UserFacingError(`Cannot write ${what} to ${target}: it is a folder.`, 'Give the path of a file, not a folder.');
  if (!info.isFile()) throw new UserFacingError(`Cannot write ${what} to ${target}: it is not a regular file (a device, pipe or socket).`, 'Give the path of a regular file.');
}

const MB = 1024 * 1024;

/** A write failure, in words that name its cause and what to do. */
export function describeWriteError(error: unknown, target: string, what: string, bytesWritten = 0): UserFacingError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const folder = path.dirname(path.resolve(target));
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new UserFacingError(
        `Cannot write ${what} to ${target}: the disk is full (${code === 'EDQUOT' ? 'quota exceeded' : 'no space left'} after ${(bytesWritten / MB).toFixed(1)} MB). Nothing was written.`,
        'Free some space, or choose a path on another disk.',
      );
    case 'ENOENT':
      return new UserFacingError(`Cannot write ${what} to ${target}: the folder ${folder} does not exist.`, 'Create the folder first, or choose a path in a folder that exists.');
    case 'ENOTDIR':
      return new UserFacingError(`Cannot write ${what} to ${target}: a part of the path is a file, not a folder.`, 'Choose a path in a folder that exists.');
    case 'EACCES':
    case 'EPERM':
      return new UserFacingError(`Cannot write ${what} to ${target}: no permission to write in ${folder}.`, 'Choose a folder you can write to.');
    case 'EROFS':
      return new UserFacingError(`Cannot write ${what} to ${target}: the file system is read-only.`, 'Choose a folder on a writable disk.');
    case 'EISDIR':
      return new UserFacingError(`Cannot write ${what} to ${target}: it is a folder.`, 'Give the path of a file, not a folder.');
    case 'ENAMETOOLONG':
      return new UserFacingError(`Cannot write ${what} to ${target}: the file name is too long.`, 'Choose a shorter name.');
    default: {
      const reason = error instanceof Error ? error.message : String(error);
      return new UserFacingError(`Cannot write ${what} to ${target}: ${reason}.`, 'Choose a path in a folder that exists and that you can write to.');
    }
  }
}

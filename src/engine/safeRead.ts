/**
 * @file Reading a file the user named (a model, weights, a tokenizer, an input tensor, a text):
 * only a regular file is read, and only when its size is under a ceiling checked before reading.
 * A device (/dev/zero), a FIFO, a socket or a folder is refused at once with a message: reading one
 * would grow without end or block forever. The file is opened non-blocking, so even a FIFO that
 * appears between the check and the open cannot hang the engine, and the check is made on the open
 * descriptor (fstat), so a file swapped after the check is not read either.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { type OptionName, optionRef, UserFacingError } from '../shared/errors';

export interface ReadLimits {
  /** Largest size read, in bytes. */
  maxBytes: number;
  /** What the file is, for messages: "the ONNX model", "the weights file". */
  what: string;
  /** The option that named the file, so the message can point to it. */
  option?: OptionName;
  /** The option that raises the ceiling, when there is one. */
  limitOption?: OptionName;
}

// O_NONBLOCK does not exist on Windows, where FIFOs cannot be opened by path this way anyway.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

const MB = 2 ** 20;

function formatMB(bytes: number): string {
  return bytes >= 10 * MB ? `${(bytes / MB).toFixed(0)} MB` : `${(bytes / MB).toFixed(1)} MB`;
}

function where(limits: ReadLimits): string {
  return limits.option ? ` (${optionRef(limits.option)})` : '';
}

/** The error for a path that cannot be opened at all. */
export function openError(error: unknown, file: string, limits: ReadLimits): UserFacingError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const facts = { path: file };
  switch (code) {
    case 'ENOENT':
      return new UserFacingError(`${capitalize(limits.what)} was not found: ${file}.`, `Check the path${where(limits)}.`, { code: 'file-not-found', facts });
    case 'EACCES':
    case 'EPERM':
      return new UserFacingError(`${capitalize(limits.what)} cannot be read: no permission to read ${file}.`, 'Give a file you can read.', { code: 'file-unreadable', facts });
    case 'ENOTDIR':
      return new UserFacingError(`${capitalize(limits.what)} was not found: a part of ${file} is a file, not a folder.`, `Check the path${where(limits)}.`, { code: 'file-not-found', facts });
    case 'ELOOP':
      return new UserFacingError(`${capitalize(limits.what)} cannot be read: ${file} is a loop of links.`, `Give the file itself${where(limits)}.`, { code: 'file-unreadable', facts });
    default: {
      const reason = error instanceof Error ? error.message : String(error);
      return new UserFacingError(`${capitalize(limits.what)} cannot be read (${file}): ${reason}.`, `Check the path${where(limits)}.`, { code: 'file-unreadable', facts });
    }
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Refuses what is not a regular file, or is over the ceiling. */
export function checkRegularFile(info: Stats, file: string, limits: ReadLimits): void {
  if (info.isDirectory()) {
    throw new UserFacingError(`${capitalize(limits.what)} must be a file, but ${file} is a folder.`, `Give the path of the file itself${where(limits)}.`, { code: 'is-a-folder', facts: { path: file } });
  }
  if (!info.isFile()) {
    const kind = info.isFIFO() ? 'a pipe (FIFO)' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : info.isSocket() ? 'a socket' : 'not a regular file';
    throw new UserFacingError(
      `${capitalize(limits.what)} must be a regular file, but ${file} is ${kind}; Attention Lens reads only regular files.`,
      `Give the path of a regular file${where(limits)}.`,
      { code: 'not-a-regular-file', facts: { path: file, kind } },
    );
  }
  if (info.size > limits.maxBytes) {
    throw new UserFacingError(
      `${capitalize(limits.what)} ${path.basename(file)} is ${formatMB(info.size)}, over the ${formatMB(limits.maxBytes)} limit for it.`,
      limits.limitOption ? `Raise ${optionRef(limits.limitOption)} if the machine has the memory, or give a smaller file.` : 'Give a smaller file.',
      { code: 'file-too-big', facts: { path: file, sizeMB: Math.ceil(info.size / MB), limitMB: Math.floor(limits.maxBytes / MB) } },
    );
  }
}

/** Reads a regular file whole, refusing anything else (see the file comment). */
export async function readRegularFile(file: string, limits: ReadLimits): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (error) {
    throw openError(error, file, limits);
  }
  try {
    const info = await handle.stat();
    checkRegularFile(info, file, limits);
    // Read what the size said, no more: a file that grows while it is read cannot pass the ceiling.
    const bytes = new Uint8Array(info.size);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, offset, bytes.byteLength - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return offset === bytes.byteLength ? bytes : bytes.subarray(0, offset);
  } catch (error) {
    if (error instanceof UserFacingError) throw error;
    throw openError(error, file, limits);
  } finally {
    await handle.close();
  }
}

/** readRegularFile for synchronous callers (tokenizer loading, settings). */
export function readRegularFileSync(file: string, limits: ReadLimits): Uint8Array {
  let descriptor: number;
  try {
    descriptor = openSync(file, OPEN_FLAGS);
  } catch (error) {
    throw openError(error, file, limits);
  }
  try {
    const info = fstatSync(descriptor);
    checkRegularFile(info, file, limits);
    const bytes = new Uint8Array(info.size);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const read = readSync(descriptor, bytes, offset, bytes.byteLength - offset, offset);
      if (read === 0) break;
      offset += read;
    }
    return offset === bytes.byteLength ? bytes : bytes.subarray(0, offset);
  } catch (error) {
    if (error instanceof UserFacingError) throw error;
    throw openError(error, file, limits);
  } finally {
    closeSync(descriptor);
  }
}

export interface DecodedText {
  text: string;
  /** Bytes that were not valid UTF-8 and became U+FFFD. */
  invalidSequences: number;
}

/**
 * UTF-8 text, with the number of invalid sequences replaced by U+FFFD counted, so the caller can
 * say so instead of changing the user's text silently.
 */
export function decodeUtf8(bytes: Uint8Array): DecodedText {
  const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes);
  let replacements = 0;
  for (let index = text.indexOf('\uFFFD'); index >= 0; index = text.indexOf('\uFFFD', index + 1)) replacements++;
  if (replacements === 0) return { text, invalidSequences: 0 };
  // A U+FFFD written in the file itself is valid text: count only those the decoder made.
  let written = 0;
  const encoded = Buffer.from(bytes);
  for (let index = encoded.indexOf('\uFFFD'); index >= 0; index = encoded.indexOf('\uFFFD', index + 3)) written++;
  return { text, invalidSequences: replacements - written };
}

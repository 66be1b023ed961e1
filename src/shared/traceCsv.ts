/**
 * @file The attention of a trace as CSV, one row per (block, head, query, key), for spreadsheets
 * and pandas: block,layer,kind,head,query,key,query_token,key_token,weight,allowed.
 * Weights have 9 significant digits (exact for float32); tokens are quoted as RFC 4180 asks.
 */
import type { LazyTrace } from './lazyTrace';
import { type AttentionBlock, type AttentionTrace, maskAllows, probIndex, type TokenStream } from './trace';

const HEADER = 'block,layer,kind,head,query,key,query_token,key_token,weight,allowed';

function quote(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV in pieces of one block each (a long trace is hundreds of MB as one string). */
export function* traceCsvChunks(trace: AttentionTrace): Generator<string> {
  yield `${HEADER}\r\n`;
  for (let index = 0; index < trace.blocks.length; index++) yield blockCsv(index, trace.blocks[index], trace.streams);
}

/** The same text as traceCsvChunks, each block read when its turn comes (a trace file's blocks are never all in memory). */
export async function* lazyTraceCsvPieces(trace: LazyTrace): AsyncGenerator<string> {
  yield `${HEADER}\r\n`;
  for (let index = 0; index < trace.blocks.length; index++) yield blockCsv(index, await trace.readBlock(index), trace.skeleton.streams);
}

function blockCsv(index: number, block: AttentionBlock, streams: readonly TokenStream[]): string {
  const queryTokens = streams.find((stream) => stream.name === block.queryStream)?.tokens ?? [];
  const keyTokens = streams.find((stream) => stream.name === block.keyStream)?.tokens ?? [];
  const labels = (tokens: typeof queryTokens, count: number): string[] =>
    Array.from({ length: count }, (_, i) => quote(tokens[i] ? (tokens[i].special || tokens[i].text === '' ? tokens[i].piece : tokens[i].text) : `#${i}`));
  const queryLabels = labels(queryTokens, block.queries);
  const keyLabels = labels(keyTokens, block.keys);
  const lines: string[] = [];
  for (let head = 0; head < block.heads; head++) {
    for (let query = 0; query < block.queries; query++) {
      for (let key = 0; key < block.keys; key++) {
        const weight = block.probs[probIndex(block, head, query, key)];
        const allowed = maskAllows(block, query, key) ? 1 : 0;
        const shown = Number.isFinite(weight) ? String(Number(weight.toPrecision(9))) : String(weight);
        lines.push(`${index},${block.layer},${block.kind},${head},${query},${key},${queryLabels[query]},${keyLabels[key]},${shown},${allowed}`);
      }
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

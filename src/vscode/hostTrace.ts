/**
 * @file A run's trace as the extension host holds it. The host never needs every block at once: the
 * panel asks for the block it shows, the editor's hover for one row of it, an export reads block
 * after block. So a big trace stays in the temporary trace file the engine process wrote
 * (engineProcessClient.ts HeldTrace), the blocks read last are cached, and the file goes when
 * nothing uses the trace any more: not the views (a newer run replaced it) nor an export still
 * writing it.
 */
import type { HeldTrace } from '../engine';
import { cachedBlocks, type LazyTrace, lazyOverview, lazyTrace, withSkeleton } from '../shared/lazyTrace';
import type { TraceOverview } from '../shared/protocol';
import type { AttentionTrace } from '../shared/trace';
import { withTraceWords } from '../shared/traceWords';
import { VSCODE_OPTION_WORDS } from './words';

export class HostTrace {
  /** The trace as shown: notices and diagnostics in VS Code's words. */
  readonly shown: LazyTrace;
  /** The same trace with its option references, as the engine wrote it: what a trace file saves. */
  readonly portable: LazyTrace;
  /** What the panel lays out from (no attention arrays), made once. */
  readonly overview: TraceOverview;
  private users = 1;
  private released: Promise<void> | undefined;

  /**
   * @param cacheBytes blocks kept after they were read (the memory budget): the panel asks again
   *   for the block it shows (another head, the editor's hover); a trace in memory needs none
   * @param prepend a notice said first, in both forms (e.g. what an induction probe is)
   */
  constructor(private readonly held: HeldTrace, cacheBytes: number, prepend?: { code: string; message: string }) {
    const blocks = held.storage === 'file' ? cachedBlocks(held.trace, cacheBytes) : held.trace;
    const skeleton = blocks.skeleton;
    if (prepend) skeleton.notices = [prepend, ...skeleton.notices];
    this.portable = blocks;
    this.shown = withSkeleton(blocks, withTraceWords(skeleton, VSCODE_OPTION_WORDS));
    this.overview = lazyOverview(this.shown);
  }

  /** A trace that is already all in this process (a partial trace shown while the run goes on). */
  static inMemory(trace: AttentionTrace): HostTrace {
    return new HostTrace({ trace: lazyTrace(trace), storage: 'memory', release: async () => undefined }, 0);
  }

  /** Where the blocks come from: memory, or the temporary trace file (and which). */
  get storage(): Pick<HeldTrace, 'storage' | 'file'> {
    return { storage: this.held.storage, ...(this.held.file ? { file: this.held.file } : {}) };
  }

  /** Runs `work` with the trace kept readable until it ends, even if the views drop it meanwhile. */
  async use<T>(work: (trace: HostTrace) => Promise<T>): Promise<T> {
    if (this.released) throw new Error('the trace was released');
    this.users++;
    try {
      return await work(this);
    } finally {
      this.drop();
    }
  }

  /** One user is done with it; the last one lets the storage go (closes and removes the file). */
  drop(): void {
    this.users--;
    if (this.users === 0) this.released = this.held.release().catch(() => undefined);
  }

  /** Resolves when the storage was let go (for tests). */
  whenReleased(): Promise<void> | undefined {
    return this.released;
  }
}

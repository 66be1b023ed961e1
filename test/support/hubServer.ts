/**
 * A stand-in for the Hugging Face Hub in tests: a real HTTP server on 127.0.0.1 serving
 * repositories in the resolve layout (`/{repo}/resolve/{revision}/{path}`), with the Hub's headers
 * (X-Repo-Commit, ETag as the git blob sha1, X-Linked-Etag and X-Linked-Size for LFS files, Accept-Ranges)
 * and LFS files redirected to a second server (another origin, like the Hub's CDN). Or, with
 * `style: 'static'`, a plain static server that sends none of those headers and ignores ranges.
 *
 * Faults on demand, per file: truncate the body (always), drop the connection once mid-body,
 * announce a wrong sha256, answer a status; repositories can be private (a token is needed) or
 * gated. Every request is recorded (method, path, headers) so tests can check what was sent where.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFileSpec {
  path: string;
  content: Uint8Array | string;
  /** Served as an LFS file: redirected to the CDN, with X-Linked-Etag (its sha256). */
  lfs?: boolean;
}

export interface HubRepoSpec {
  repo: string;
  /** 40-hex commit; default derived from the repository's name. */
  commit?: string;
  files: HubFileSpec[];
  /** Needs `Authorization: Bearer {token}`; without it 401 (private) or, if gated, 401/403 GatedRepo. */
  privateToken?: string;
  gated?: boolean;
}

export interface FileFault {
  /** Send Content-Length in full, but only this many bytes, then close (every time; ranges refused). */
  truncateAt?: number;
  /** The first GET sends this many bytes and drops the connection; later ones (with Range) complete. */
  dropOnceAt?: number;
  /** Announce the sha256 of other content (X-Linked-Etag). */
  wrongSha?: boolean;
  /** Answer this status to GET and HEAD. */
  status?: number;
  /** Send the body this slowly (bytes per 10 ms), so a test can cancel midway. */
  throttle?: number;
}

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface HubServer {
  endpoint: string;
  cdnOrigin: string;
  requests: RecordedRequest[];
  /** Sets (or with undefined clears) the fault of `repo`'s `path`. */
  fault(repo: string, path: string, fault: FileFault | undefined): void;
  close(): Promise<void>;
}

interface StoredFile {
  content: Buffer;
  lfs: boolean;
  sha256: string;
  gitSha1: string;
}

function commitOf(repo: string): string {
  return createHash('sha1').update(`commit ${repo}`).digest('hex');
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function rangeStart(request: IncomingMessage): number | null {
  const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
  return match ? Number(match[1]) : null;
}

/** Writes `body` from `start`, honouring throttle, truncation and a one-time drop. */
function sendBody(response: ServerResponse, body: Buffer, start: number, fault: FileFault | undefined, dropNow: boolean): void {
  const cut = fault?.truncateAt !== undefined ? fault.truncateAt : dropNow ? start + (fault?.dropOnceAt ?? 0) : null;
  const end = cut !== null ? Math.min(Math.max(cut, start), body.length) : body.length;
  const slice = body.subarray(start, end);
  const finish = (): void => {
    if (cut !== null) {
      // Headers promised more: close the socket mid-body, as a dropped connection does (a moment
      // later, so the bytes sent are read first, as on a real network; 30 ms was too short for a
      // client on a loaded machine, which then lost the bytes with the connection).
      setTimeout(() => response.socket?.destroy(), 250);
    } else {
      response.end();
    }
  };
  if (!fault?.throttle) {
    response.write(slice, () => finish());
    return;
  }
  let offset = 0;
  const step = (): void => {
    if (response.destroyed) return;
    if (offset >= slice.length) return finish();
    response.write(slice.subarray(offset, offset + fault.throttle!));
    offset += fault.throttle!;
    setTimeout(step, 10);
  };
  step();
}

export async function startHubServer(repos: HubRepoSpec[], options: { style?: 'hub' | 'static' } = {}): Promise<HubServer> {
  const style = options.style ?? 'hub';
  const stored = new Map<string, { spec: HubRepoSpec; commit: string; files: Map<string, StoredFile> }>();
  for (const spec of repos) {
    const files = new Map<string, StoredFile>();
    for (const file of spec.files) {
      const content = Buffer.from(file.content);
      const sha256 = createHash('sha256').update(content).digest('hex');
      const gitSha1 = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
      files.set(file.path, { content, lfs: file.lfs ?? false, sha256, gitSha1 });
    }
    stored.set(spec.repo, { spec, commit: spec.commit ?? commitOf(spec.repo), files });
  }
  const faults = new Map<string, FileFault>();
  const dropped = new Set<string>();
  const requests: RecordedRequest[] = [];
  let cdnOrigin = '';

  /** Answers GET/HEAD of a file's bytes (the Hub itself for small files, the CDN for LFS files). */
  function serveContent(request: IncomingMessage, response: ServerResponse, key: string, file: StoredFile, headers: Record<string, string>): void {
    const fault = faults.get(key);
    const ranges = style === 'hub' && fault?.truncateAt === undefined;
    const start = ranges ? rangeStart(request) : null;
    const common: Record<string, string> = { ...headers, 'content-type': 'application/octet-stream' };
    if (ranges) common['accept-ranges'] = 'bytes';
    if (start !== null && start >= file.content.length) {
      response.writeHead(416, { ...common, 'content-range': `bytes */${file.content.length}` });
      response.end();
      return;
    }
    if (start !== null && start > 0) {
      response.writeHead(206, { ...common, 'content-length': String(file.content.length - start), 'content-range': `bytes ${start}-${file.content.length - 1}/${file.content.length}` });
    } else {
      response.writeHead(200, { ...common, 'content-length': String(file.content.length) });
    }
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    const dropNow = fault?.dropOnceAt !== undefined && !dropped.has(key);
    if (dropNow) dropped.add(key);
    sendBody(response, file.content, start ?? 0, fault, dropNow);
  }

  const hub = createServer((request, response) => {
    requests.push({ server: 'hub', method: request.method ?? '', path: request.url ?? '', headers: request.headers });
    const match = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(request.url ?? '');
    const hubHeaders = (extra: Record<string, string>): Record<string, string> => (style === 'hub' ? extra : {});
    if (!match) {
      response.writeHead(404, hubHeaders({ 'x-error-code': 'RepoNotFound' }));
      response.end();
      return;
    }
    const [, repo, revision, encodedPath] = match;
    const path = encodedPath.split('/').map(decodeURIComponent).join('/');
    const entry = stored.get(repo);
    if (!entry) {
      response.writeHead(style === 'hub' ? 401 : 404, hubHeaders({ 'x-error-code': 'RepoNotFound' }));
      response.end();
      return;
    }
    const sent = request.headers.authorization;
    if (entry.spec.privateToken !== undefined && sent !== `Bearer ${entry.spec.privateToken}`) {
      const status = entry.spec.gated && sent ? 403 : 401;
      response.writeHead(status, hubHeaders({ 'x-error-code': entry.spec.gated ? 'GatedRepo' : 'RepoNotFound' }));
      response.end();
      return;
    }
    if (revision !== 'main' && revision !== entry.commit) {
      response.writeHead(404, hubHeaders({ 'x-error-code': 'RevisionNotFound' }));
      response.end();
      return;
    }
    const key = `${repo}/${path}`;
    const fault = faults.get(key);
    if (fault?.status) {
      response.writeHead(fault.status);
      response.end();
      return;
    }
    const file = entry.files.get(path);
    if (!file) {
      response.writeHead(404, hubHeaders({ 'x-error-code': 'EntryNotFound', 'x-repo-commit': entry.commit }));
      response.end();
      return;
    }
    if (style === 'hub' && file.lfs) {
      const announced = fault?.wrongSha ? createHash('sha256').update('something else').digest('hex') : file.sha256;
      response.writeHead(302, {
        location: `${cdnOrigin}/lfs/${file.sha256}?file=${encodeURIComponent(key)}`,
        'x-repo-commit': entry.commit,
        'x-linked-etag': `"${announced}"`,
        'x-linked-size': String(file.content.length),
        etag: `"${file.gitSha1}"`,
        'content-length': '0',
      });
      response.end();
      return;
    }
    serveContent(request, response, key, file, hubHeaders({ 'x-repo-commit': entry.commit, etag: `"${file.gitSha1}"` }));
  });

  const cdn = createServer((request, response) => {
    requests.push({ server: 'cdn', method: request.method ?? '', path: request.url ?? '', headers: request.headers });
    const url = new URL(request.url ?? '/', 'http://cdn');
    const sha = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname)?.[1];
    const key = url.searchParams.get('file') ?? '';
    const repo = [...stored.keys()].find((name) => key.startsWith(`${name}/`));
    const file = repo ? stored.get(repo)?.files.get(key.slice(repo.length + 1)) : undefined;
    if (!file || file.sha256 !== sha) {
      response.writeHead(404);
      response.end();
      return;
    }
    serveContent(request, response, key, file, { etag: `"${file.sha256}"` });
  });

  const endpoint = await listen(hub);
  cdnOrigin = await listen(cdn);
  return {
    endpoint,
    cdnOrigin,
    requests,
    fault(repo, path, fault) {
      const key = `${repo}/${path}`;
      dropped.delete(key);
      if (fault) faults.set(key, fault);
      else faults.delete(key);
    },
    async close() {
      for (const server of [hub, cdn]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

/** A port on 127.0.0.1 where nothing listens (a server that cannot be reached). */
export async function closedPort(): Promise<string> {
  const server = createServer();
  const address = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address;
}

/**
 * @file The Hub's HTTP, as small as it can be: HEAD and GET of resolve URLs through Node's fetch,
 * following redirects by hand so that the token goes only to the configured endpoint's origin
 * (never to the storage a large file redirects to), mapping the network's failures to
 * hub-unreachable and an abort to CancelledError.
 */
import { CancelledError } from '../../shared/errors';
import { unreachable } from './hubErrors';

/** Hops followed before giving up (the Hub uses one for LFS files, one more for a renamed repository). */
const MAX_REDIRECTS = 5;
const USER_AGENT = 'attention-lens (hub client; +resolve layout)';

export interface HubHttp {
  endpoint: string;
  token: string | null;
}

export interface HubResponse {
  /** The final response (after redirects for GET; for HEAD, the first answer that is not a relative redirect). */
  response: Response;
  /** Headers of the first response, where the Hub puts X-Repo-Commit and X-Linked-Etag for LFS files. */
  firstHeaders: Headers;
  url: string;
}

/** The reason a fetch failed, for messages: the system's code (ECONNREFUSED, ENOTFOUND) or its words. */
export function networkReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
}

function sameOrigin(a: string, b: string): boolean {
  return new URL(a).origin === new URL(b).origin;
}

/**
 * One request with redirects followed by hand.
 * HEAD stops at the first redirect to another origin (its headers are what the Hub says about the
 * file), as huggingface_hub does; GET follows it without the token.
 */
export async function hubRequest(http: HubHttp, method: 'HEAD' | 'GET', url: string, extraHeaders: Record<string, string>, signal?: AbortSignal): Promise<HubResponse> {
  let current = url;
  let firstHeaders: Headers | null = null;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity', ...extraHeaders };
    if (http.token && sameOrigin(current, http.endpoint)) headers.authorization = `Bearer ${http.token}`;
    let response: Response;
    try {
      response = await fetch(current, { method, headers, redirect: 'manual', signal });
    } catch (error) {
      if (isAbort(error, signal)) throw new CancelledError();
      throw unreachable(new URL(current).origin, networkReason(error));
    }
    firstHeaders ??= response.headers;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, current).href;
      if (method === 'HEAD' && !sameOrigin(next, current)) return { response, firstHeaders, url: current };
      await response.body?.cancel().catch(() => undefined);
      current = next;
      continue;
    }
    return { response, firstHeaders, url: current };
  }
  throw unreachable(new URL(url).origin, `more than ${MAX_REDIRECTS} redirects`);
}

/** An ETag as the cache names blobs by: without W/ and quotes. */
export function normalizeEtag(value: string | null): string | null {
  if (!value) return null;
  const etag = value.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return etag === '' ? null : etag;
}

/** What a HEAD (or the first response of a GET) says about a file of the repository. */
export interface RemoteFileInfo {
  /** The commit the revision points to; null when the server does not say (a static server). */
  commit: string | null;
  /** X-Linked-Etag (LFS: the content's sha256) or ETag, normalised; null when none. */
  etag: string | null;
  /** The content's sha256 when the server gives it (an LFS file's etag is its sha256). */
  sha256: string | null;
  /** X-Linked-Size, else Content-Length (for a HEAD answered in full); null when unknown. */
  size: number | null;
}

function sizeOf(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  return Number(value.trim());
}

export function fileInfo(headers: Headers, finalHeaders: Headers): RemoteFileInfo {
  const commitHeader = headers.get('x-repo-commit')?.trim() ?? null;
  const etag = normalizeEtag(headers.get('x-linked-etag')) ?? normalizeEtag(headers.get('etag')) ?? normalizeEtag(finalHeaders.get('etag'));
  const sha256 = etag !== null && /^[0-9a-f]{64}$/i.test(etag) ? etag.toLowerCase() : null;
  return {
    commit: commitHeader && /^[0-9a-f]{40}$/.test(commitHeader) ? commitHeader : null,
    etag,
    sha256,
    size: sizeOf(headers.get('x-linked-size')) ?? sizeOf(finalHeaders.get('content-length')),
  };
}

/**
 * @file Where the Hub is and how to reach it: the endpoint, the cache folder, offline mode and the
 * token, from the run's options first and then the environment variables Hugging Face's own tools
 * read (HF_ENDPOINT, HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE, HF_TOKEN), so a cache and a token that
 * Python tools use work here unchanged. Light (no network): the hosts import it through the index.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { optionRef, UserFacingError } from '../../shared/errors';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** Which of a repository's ONNX variants to run (transformers.js names them by these). */
export type HubDtype = 'fp32' | 'fp16' | 'q8' | 'q4';
export const HUB_DTYPES: readonly HubDtype[] = ['fp32', 'fp16', 'q8', 'q4'];

/** How a run reaches the Hub; every field falls back to the environment, then to the default. */
export interface HubOptions {
  /** Base URL that serves `{repo}/resolve/{revision}/{path}`; default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Bearer token for private and gated repositories (VS Code: from SecretStorage); default HF_TOKEN. Sent only to the endpoint. */
  token?: string;
  /** Never touch the network, use only the cache; default HF_HUB_OFFLINE=1. */
  offline?: boolean;
  /** The cache folder (the `hub` folder itself); default HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
}

/** HubOptions with every fallback applied. */
export interface HubSettings {
  endpoint: string;
  token: string | null;
  offline: boolean;
  cacheDir: string;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The cache folder Hugging Face's tools share: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function defaultHubCache(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const hubCache = nonEmpty(env.HF_HUB_CACHE);
  if (hubCache) return path.resolve(hubCache);
  const hfHome = nonEmpty(env.HF_HOME);
  if (hfHome) return path.resolve(hfHome, 'hub');
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return path.join(xdg ? path.resolve(xdg) : path.join(home, '.cache'), 'huggingface', 'hub');
}

/** Refuses an endpoint that is not an http(s) URL without credentials, query or fragment. */
export function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new UserFacingError(
      `The Hugging Face endpoint "${endpoint}" is not an http(s) address.`,
      `Give the address of the Hub or of a mirror, like https://huggingface.co, in ${optionRef('hubEndpoint')}.`,
      { code: 'invalid-option', facts: { option: 'hubEndpoint', value: endpoint } },
    );
  }
  return url.href.replace(/\/+$/, '');
}

export function hubSettings(options: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = checkEndpoint(nonEmpty(options.endpoint) ?? nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT);
  return {
    endpoint,
    token: nonEmpty(options.token) ?? nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN) ?? null,
    offline: options.offline ?? (truthy(env.HF_HUB_OFFLINE) || truthy(env.TRANSFORMERS_OFFLINE)),
    cacheDir: options.cacheDir ? path.resolve(options.cacheDir) : defaultHubCache(env),
  };
}

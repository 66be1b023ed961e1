/**
 * @file Model specs that name a Hugging Face Hub repository: `hf:ORG/NAME[@REVISION]` (or a legacy
 * name without an organisation, `hf:gpt2`). Parsed once, at the edge; everything after it works on
 * a HubModelRef whose parts are safe to put into a URL path and a cache folder name.
 */
import { optionRef, UserFacingError } from '../../shared/errors';

export const HUB_SCHEME = 'hf:';
export const DEFAULT_REVISION = 'main';

/** A repository on the Hub, at a revision (a branch, a tag or a commit sha). */
export interface HubModelRef {
  /** "ORG/NAME" (or "NAME"), as the Hub spells it. */
  repo: string;
  /** "main", a tag, "refs/pr/1", or a 40-hex commit. */
  revision: string;
}

/** One part of a repository id: the Hub's own rule (letters, digits, "-", "_", "."), no "--" or "..". */
const NAME_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;
const REVISION = /^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$/;
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function isHubSpec(spec: string): boolean {
  return spec.trim().startsWith(HUB_SCHEME);
}

function badSpec(spec: string, why: string): UserFacingError {
  return new UserFacingError(
    `"${spec}" is not a Hugging Face model name: ${why}.`,
    `Write hf:ORG/NAME or hf:ORG/NAME@REVISION (e.g. hf:Xenova/bert-base-uncased@main) in ${optionRef('model')}.`,
    { code: 'invalid-option', facts: { option: 'model', value: spec } },
  );
}

/** `hf:ORG/NAME[@REVISION]` → its repository and revision (default "main"); refuses anything else with a usage error. */
export function parseHubSpec(spec: string): HubModelRef {
  const trimmed = spec.trim();
  if (!trimmed.startsWith(HUB_SCHEME)) throw badSpec(spec, 'it does not start with "hf:"');
  const body = trimmed.slice(HUB_SCHEME.length);
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? DEFAULT_REVISION : body.slice(at + 1);
  const parts = repo.split('/');
  if (repo === '' || parts.length > 2) throw badSpec(spec, 'the repository must be ORG/NAME');
  for (const part of parts) {
    if (!NAME_PART.test(part) || part.includes('--') || part.includes('..')) {
      throw badSpec(spec, `"${part}" may hold only letters, digits, "-", "_" and "." (no "--" or "..")`);
    }
  }
  if (!REVISION.test(revision) || revision.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw badSpec(spec, `the revision "${revision}" is not a branch, tag or commit name`);
  }
  return { repo, revision };
}

/** The spec as users write it: "hf:ORG/NAME@REVISION" (the revision always shown). */
export function formatHubRef(ref: HubModelRef): string {
  return `${HUB_SCHEME}${ref.repo}@${ref.revision}`;
}

/** A repository file's path, each segment URL-encoded (the resolve layout keeps the slashes). */
export function encodeRepoPath(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

/** `{endpoint}/{repo}/resolve/{revision}/{path}`: the one URL form the Hub, its mirrors and a static server share. */
export function resolveUrl(endpoint: string, ref: HubModelRef, file: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${encodeRepoPath(file)}`;
}

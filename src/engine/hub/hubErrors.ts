/**
 * @file Every way fetching a Hub model can fail, each as a UserFacingError with a code of
 * HUB_ERROR_CODES and the facts a host needs to word it (status, repository, file, sizes). The
 * token never appears in a message or a fact.
 */
import { optionRef, UserFacingError } from '../../shared/errors';

const MB = 2 ** 20;

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

export function repoNotFound(repo: string, revision: string, endpoint: string, status: number, tokenSent: boolean): UserFacingError {
  return new UserFacingError(
    `The Hugging Face repository ${repo} (revision ${revision}) was not found at ${endpoint} (HTTP ${status}).`,
    tokenSent
      ? `Check the name's spelling (ORG/NAME, as in the repository's address) and the revision in ${optionRef('model')}, and that the token may read it.`
      : `Check the name's spelling (ORG/NAME, as in the repository's address) and the revision in ${optionRef('model')}; a private repository answers "not found" until a token is set (${optionRef('hfToken')}).`,
    { code: 'hub-repo-not-found', facts: { repo, revision, endpoint, status, tokenSent } },
  );
}

export function unauthorized(repo: string, status: number, gated: boolean, tokenSent: boolean, endpoint: string): UserFacingError {
  const what = gated ? 'gated (its terms must be accepted on its page)' : 'private or gated';
  return new UserFacingError(
    tokenSent
      ? `${endpoint} refused the token for ${repo} (HTTP ${status}): the repository is ${what}, and this token may not read it.`
      : `${repo} is ${what}: ${endpoint} answered HTTP ${status} to a request without a token.`,
    tokenSent
      ? `Accept the model's terms on its page with the account the token belongs to, or set a token that can read it (${optionRef('hfToken')}).`
      : `Set a Hugging Face access token (${optionRef('hfToken')}); for a gated model, accept its terms on its page first.`,
    { code: 'hub-unauthorized', facts: { repo, status, gated, tokenSent, endpoint } },
  );
}

export function unreachable(endpoint: string, reason: string): UserFacingError {
  return new UserFacingError(
    `The Hugging Face Hub at ${endpoint} could not be reached (${reason}), and the model is not in the cache.`,
    `Check the network connection or the endpoint (${optionRef('hubEndpoint')}); a model downloaded once opens offline (${optionRef('offline')}).`,
    { code: 'hub-unreachable', facts: { endpoint, reason } },
  );
}

export function httpFailure(endpoint: string, repo: string, file: string, status: number): UserFacingError {
  return new UserFacingError(
    `${endpoint} answered HTTP ${status} for ${file} of ${repo}.`,
    'Try again later; if it persists, the server or mirror has a problem with this file.',
    { code: 'hub-http-error', facts: { endpoint, repo, file, status } },
  );
}

export function offlineNotCached(repo: string, revision: string, cacheDir: string, what: string): UserFacingError {
  return new UserFacingError(
    `Offline, and ${repo} (revision ${revision}) is not in the Hugging Face cache ${cacheDir}: ${what}.`,
    `Run once with the network (without ${optionRef('offline')}) to download it, or point the cache (HF_HUB_CACHE) at a folder that holds it.`,
    { code: 'hub-offline-not-cached', facts: { repo, revision, cacheDir, missing: what } },
  );
}

export function noOnnx(repo: string, found: readonly string[], wanted: readonly string[], dtype: string | null): UserFacingError {
  const foundText = found.length > 0 ? found.join(', ') : 'none of the file names Attention Lens looks for';
  return new UserFacingError(
    dtype
      ? `${repo} holds no ${dtype} ONNX model (looked for ${wanted.join(', ')}); found: ${foundText}.`
      : `${repo} holds no ONNX model Attention Lens can run (looked for ${wanted.join(', ')}); found: ${foundText}.`,
    dtype && found.some((file) => file.endsWith('.onnx'))
      ? `Pick another variant with ${optionRef('dtype')} (the list above shows which exist).`
      : 'Choose an ONNX export of the model: transformers.js repositories (Xenova/*, onnx-community/*) keep onnx/model.onnx, optimum exports model.onnx at the root.',
    { code: 'hub-no-onnx', facts: { repo, found: found.join(','), wanted: wanted.join(','), dtype } },
  );
}

export function encoderWithoutDecoder(repo: string, found: readonly string[]): UserFacingError {
  return new UserFacingError(
    `${repo} holds an encoder (${found.filter((file) => file.includes('encoder_model')).join(', ')}) but no decoder_model.onnx or decoder_model_merged.onnx of the same folder and dtype to join it with; found: ${found.join(', ')}.`,
    `Pick a dtype (${optionRef('dtype')}) whose encoder and decoder are both there, or choose another export of the model.`,
    { code: 'hub-encoder-without-decoder', facts: { repo, found: found.join(',') } },
  );
}

export function truncated(repo: string, file: string, received: number, expected: number): UserFacingError {
  return new UserFacingError(
    `The download of ${file} from ${repo} ended early: ${mb(received)} of ${mb(expected)} arrived (${received} of ${expected} bytes).`,
    'Run again: the download resumes where the server allows it; nothing incomplete was put in the cache.',
    { code: 'hub-truncated', facts: { repo, file, received, expected } },
  );
}

export function checksumMismatch(repo: string, file: string, expected: string, actual: string): UserFacingError {
  return new UserFacingError(
    `${file} from ${repo} does not match its checksum: the server announced sha256 ${expected}, the bytes that arrived have ${actual}.`,
    'Run again; if it happens again, the server or a proxy alters the file. The damaged download was deleted.',
    { code: 'hub-checksum-mismatch', facts: { repo, file, expected, actual } },
  );
}

export function diskFull(folder: string, file: string, neededBytes: number | null, freeBytes: number | null): UserFacingError {
  const need = neededBytes !== null ? ` ${file} needs ${mb(neededBytes)}` : '';
  const free = freeBytes !== null ? `, ${mb(freeBytes)} are free` : '';
  return new UserFacingError(
    `The disk of the Hugging Face cache ${folder} is full:${need}${free}.`,
    'Free some space, or move the cache to a bigger disk (HF_HUB_CACHE or HF_HOME); nothing incomplete was put in the cache.',
    { code: 'hub-disk-full', facts: { folder, file, neededBytes, freeBytes } },
  );
}

export function cacheWriteFailed(folder: string, detail: string): UserFacingError {
  return new UserFacingError(
    `The Hugging Face cache ${folder} cannot be written (${detail}).`,
    'Make the folder writable, or move the cache (HF_HUB_CACHE or HF_HOME).',
    { code: 'hub-cache-unwritable', facts: { folder, detail } },
  );
}

export function modelTooBig(repo: string, file: string, bytes: number, limitMB: number): UserFacingError {
  return new UserFacingError(
    `${file} of ${repo} with its external data is ${mb(bytes)}, over the ${limitMB} MB limit.`,
    `Choose a smaller variant (${optionRef('dtype')}), or raise ${optionRef('maxModelMB')} if the machine has the memory.`,
    { code: 'model-too-big', facts: { repo, file, sizeMB: Math.ceil(bytes / MB), limitMB } },
  );
}

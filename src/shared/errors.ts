/**
 * @file Errors the user should read. Every failure that bad input can cause ends in one of these,
 * with a message that says what went wrong and what to do, never a stack trace.
 *
 * The engine serves several hosts (the CLI, VS Code, an HTML report), and each names its options
 * differently (`--max-tokens` against the setting "attentionLens.maxTokens"). So the engine never
 * writes an option's name itself: it writes a reference, `optionRef('maxTokens')`, and each host
 * renders the references in its own words (`renderOptionRefs`). Hosts decide by `code` and `facts`,
 * never by matching the message's text.
 */

/** The options a message can point the user to; each host has its own words for every one. */
export const OPTION_NAMES = [
  'model', 'tokenizer', 'weights', 'seed', 'maxTokens', 'padTo', 'decoderText', 'inputs', 'backend', 'threads',
  'maxModelMB', 'maxTraceMB', 'timeLimit', 'dtype', 'offline', 'hfToken', 'hubEndpoint',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/** How a host says each option: a CLI flag, a VS Code setting. */
export type OptionWords = Readonly<Record<OptionName, string>>;

const REFERENCE = /\{\{option:([A-Za-z]+)\}\}/g;

/** A reference to an option inside a message or notice, rendered by the host. */
export function optionRef(name: OptionName): string {
  return `{{option:${name}}}`;
}

/** The text with every option reference in the host's words (unknown names stay as written). */
export function renderOptionRefs(text: string, words: OptionWords): string {
  return text.replace(REFERENCE, (reference, name: string) => (name in words ? words[name as OptionName] : reference));
}

/** Structured facts about a failure, for hosts and tests (numbers in their units, names, paths). */
export type ErrorFacts = Readonly<Record<string, string | number | boolean | null>>;

/** A problem with the user's input or settings, worded for the user. */
export class UserFacingError extends Error {
  /** What the user can do about it, one sentence (may hold option references). */
  readonly hint: string;
  /**
   * What kind of problem it is, e.g. 'unknown-input', 'not-a-regular-file', 'too-big'. Hosts decide
   * by it (the CLI's exit code for a usage error, VS Code's buttons).
   */
  readonly code: string;
  readonly facts: ErrorFacts;
  constructor(message: string, hint: string, detail: { code?: string; facts?: ErrorFacts } = {}) {
    super(message);
    this.name = 'UserFacingError';
    this.hint = hint;
    this.code = detail.code ?? 'bad-input';
    this.facts = detail.facts ?? {};
  }
}

/** Codes of problems that are usage errors: a flag or setting whose value cannot be right for any model. */
export const USAGE_ERROR_CODES: ReadonlySet<string> = new Set(['invalid-option', 'unknown-input', 'unknown-option-combination']);

/**
 * Codes of the failures of fetching a Hugging Face Hub model (engine/hub/hubErrors.ts), each with its
 * facts: the repository, the HTTP status, the file, sizes. Hosts word the fix (how to set a token).
 */
export const HUB_ERROR_CODES = [
  'hub-repo-not-found', 'hub-unauthorized', 'hub-unreachable', 'hub-http-error', 'hub-offline-not-cached', 'hub-no-onnx',
  'hub-encoder-decoder', 'hub-truncated', 'hub-checksum-mismatch', 'hub-disk-full', 'hub-cache-unwritable',
] as const;
export type HubErrorCode = (typeof HUB_ERROR_CODES)[number];

/** The run was cancelled by the user or replaced by a newer run. */
export class CancelledError extends Error {
  constructor() {
    super('The attention run was cancelled.');
    this.name = 'CancelledError';
  }
}

/** Something the forward pass polls between steps, so a long run can stop early. */
export interface CancellationCheck {
  /** Throws CancelledError when the run should stop. */
  throwIfCancelled(): void;
}

export const neverCancelled: CancellationCheck = { throwIfCancelled() {} };

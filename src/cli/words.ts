/**
 * @file How the command line names the engine's options in messages: its own flags.
 */
import { type OptionWords, renderOptionRefs } from '../shared/errors';

export const CLI_OPTION_WORDS: OptionWords = {
  model: '--model',
  tokenizer: '--tokenizer',
  weights: '--weights',
  seed: '--seed',
  maxTokens: '--max-tokens',
  padTo: '--pad-to',
  decoderText: '--decoder-text',
  inputs: '--input NAME=VALUE',
  backend: '--backend',
  threads: '--threads',
  maxModelMB: '--max-model-mb',
  maxTraceMB: '--max-trace-mb',
  timeLimit: '--time-limit',
  dtype: '--dtype',
  offline: '--offline (or HF_HUB_OFFLINE=1)',
  hfToken: 'the environment variable HF_TOKEN (an access token from your Hugging Face account settings)',
  hubEndpoint: 'the environment variable HF_ENDPOINT',
};

/** An engine message or notice in the command line's words. */
export function cliWords(text: string): string {
  return renderOptionRefs(text, CLI_OPTION_WORDS);
}

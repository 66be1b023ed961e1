/**
 * @file How VS Code names the engine's options in messages: its settings. Pure (no `vscode`
 * import), so tests read it too.
 */
import { type OptionWords, renderOptionRefs, UserFacingError } from '../shared/errors';

export const VSCODE_OPTION_WORDS: OptionWords = {
  model: 'the setting "attentionLens.model" (or "Attention Lens: Select Model...")',
  tokenizer: 'the setting "attentionLens.tokenizerPath"',
  weights: 'the setting "attentionLens.builtin.weightsPath"',
  seed: 'the setting "attentionLens.builtin.seed"',
  maxTokens: 'the setting "attentionLens.maxTokens"',
  padTo: 'the padding length',
  decoderText: 'the decoder text',
  inputs: 'the setting "attentionLens.onnx.inputs"',
  backend: 'the setting "attentionLens.backend"',
  threads: 'the setting "attentionLens.threads"',
  maxModelMB: 'the setting "attentionLens.limits.maxModelSizeMB"',
  maxTraceMB: 'the setting "attentionLens.limits.maxTraceMB"',
  timeLimit: 'the setting "attentionLens.runTimeLimitSeconds"',
  dtype: 'the setting "attentionLens.hub.dtype"',
  offline: 'the setting "attentionLens.hub.offline"',
  hfToken: 'the command "Attention Lens: Set Hugging Face Token" (an access token from your Hugging Face account settings)',
  hubEndpoint: 'the setting "attentionLens.hub.endpoint"',
};

/** An engine message or notice in VS Code's words. */
export function vscodeWords(text: string): string {
  return renderOptionRefs(text, VSCODE_OPTION_WORDS);
}

/** A failure in VS Code's words: a user-facing error with what to do, else its message (never a stack). */
export function describeFailure(error: unknown): string {
  if (error instanceof UserFacingError) return `${vscodeWords(error.message)} ${vscodeWords(error.hint)}`;
  return error instanceof Error ? error.message : String(error);
}

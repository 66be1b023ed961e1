/**
 * @file Hugging Face Hub models in VS Code: the token kept in SecretStorage ("Attention Lens: Set
 * Hugging Face Token"), the Hub settings turned into engine options, the quick pick of a model name
 * (recent names and a few suggestions), the confirmation before a big download, and the progress
 * text of a download. The token is never logged or shown.
 */
import * as vscode from 'vscode';
import { type DownloadProgress, type ExplainOptions, HUB_DTYPES, type HubDtype, isHubSpec, parseHubSpec, planHubDownload } from '../engine';
import { UserFacingError } from '../shared/errors';

const TOKEN_KEY = 'attentionLens.huggingFaceToken';
/** Downloads bigger than this are confirmed first, showing the size. */
export const CONFIRM_DOWNLOAD_BYTES = 500 * 1e6;

/** Small ONNX repositories of transformers.js, a good first look. */
export const HUB_SUGGESTIONS: ReadonlyArray<{ model: string; description: string }> = [
  { model: 'hf:Xenova/bert-base-uncased', description: 'BERT base, encoder, 12 layers × 12 heads' },
  { model: 'hf:Xenova/distilbert-base-uncased', description: 'DistilBERT, encoder, 6 layers × 12 heads' },
  { model: 'hf:Xenova/gpt2', description: 'GPT-2 small, decoder, 12 layers × 12 heads' },
  { model: 'hf:Xenova/all-MiniLM-L6-v2', description: 'MiniLM sentence embeddings, 6 layers × 12 heads' },
];

/** The Hugging Face token, in VS Code's SecretStorage (the OS keychain). */
export class HubTokenStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  get(): Thenable<string | undefined> {
    return this.secrets.get(TOKEN_KEY);
  }

  /** "Attention Lens: Set Hugging Face Token": stores it, or removes it when left empty. */
  async promptAndStore(): Promise<void> {
    const value = await vscode.window.showInputBox({
      title: 'Attention Lens: Set Hugging Face Token',
      prompt: 'An access token (Hugging Face account settings → Access Tokens) for private and gated models. It is kept in the system keychain and sent only to the Hub endpoint. Leave empty to remove it.',
      password: true,
      ignoreFocusOut: true,
      placeHolder: 'hf_...',
    });
    if (value === undefined) return;
    if (value.trim() === '') {
      await this.secrets.delete(TOKEN_KEY);
      void vscode.window.showInformationMessage('Attention Lens: the Hugging Face token was removed.');
      return;
    }
    await this.secrets.store(TOKEN_KEY, value.trim());
    void vscode.window.showInformationMessage('Attention Lens: the Hugging Face token was saved.');
  }
}

/** The Hub settings ("attentionLens.hub.*") and the stored token as engine options. */
export function withHubOptions(options: ExplainOptions, config: vscode.WorkspaceConfiguration, token: string | undefined): ExplainOptions {
  if (!options.model || !isHubSpec(options.model)) return options;
  const dtype = config.get<string>('hub.dtype', '');
  const endpoint = config.get<string>('hub.endpoint', '').trim();
  return {
    ...options,
    ...((HUB_DTYPES as readonly string[]).includes(dtype) ? { dtype: dtype as HubDtype } : {}),
    hub: {
      ...(config.get<boolean>('hub.offline', false) ? { offline: true } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(token ? { token } : {}),
    },
  };
}

/** "Downloading onnx/model.onnx: 12.3 of 498.0 MB, 8.1 MB/s". */
export function downloadText(progress: DownloadProgress): string {
  const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
  const size = progress.total !== null ? `${mb(progress.bytes)} of ${mb(progress.total)} MB` : `${mb(progress.bytes)} MB`;
  return `Downloading ${progress.file}: ${size}, ${mb(progress.bytesPerSecond)} MB/s`;
}

/**
 * Asks before a download over CONFIRM_DOWNLOAD_BYTES, showing its size. True: go on (also when the
 * size cannot be learned now: the run then reports what went wrong).
 */
export async function confirmDownload(options: ExplainOptions): Promise<boolean> {
  let plan;
  try {
    plan = await planHubDownload(options);
  } catch {
    return true;
  }
  if (!plan || plan.bytes <= CONFIRM_DOWNLOAD_BYTES) return true;
  const answer = await vscode.window.showWarningMessage(
    `Download ${plan.name} (${plan.modelFile}): ${(plan.bytes / 1e6).toFixed(0)} MB into the Hugging Face cache?`,
    { modal: true },
    'Download',
  );
  return answer === 'Download';
}

/** The error of a Hub model in a restricted workspace: it would download. */
export function untrustedHubError(model: string): UserFacingError {
  return new UserFacingError(
    `This workspace is not trusted, so Attention Lens downloads nothing (${model}).`,
    'Trust the workspace (Manage Workspace Trust) to run Hugging Face models; the built-in models work without trust.',
    { code: 'untrusted-workspace', facts: { model } },
  );
}

interface NameItem extends vscode.QuickPickItem {
  model: string;
}

/** "Hugging Face model...": a name typed (hf: optional), or one of the recent names and suggestions. */
export async function pickHubModel(recent: readonly string[]): Promise<string | undefined> {
  const quickPick = vscode.window.createQuickPick<NameItem>();
  quickPick.title = 'Attention Lens: Hugging Face model';
  quickPick.placeholder = 'ORG/NAME or ORG/NAME@REVISION, e.g. Xenova/bert-base-uncased';
  const fixed: NameItem[] = [
    ...recent.filter(isHubSpec).map((model) => ({ label: model.slice(3), description: 'recent', model })),
    ...HUB_SUGGESTIONS.filter((entry) => !recent.includes(entry.model)).map((entry) => ({ label: entry.model.slice(3), description: entry.description, model: entry.model })),
  ];
  quickPick.items = fixed;
  quickPick.onDidChangeValue((value) => {
    const typed = value.trim();
    if (typed === '') {
      quickPick.items = fixed;
      return;
    }
    const model = typed.startsWith('hf:') ? typed : `hf:${typed}`;
    let detail: string | undefined;
    try {
      parseHubSpec(model);
    } catch (error) {
      detail = error instanceof UserFacingError ? error.message : String(error);
    }
    quickPick.items = [{ label: model.slice(3), description: detail ? undefined : 'download (or open from the cache)', detail, model, alwaysShow: true }, ...fixed.filter((item) => item.model !== model)];
  });
  const chosen = await new Promise<NameItem | undefined>((resolve) => {
    quickPick.onDidAccept(() => resolve(quickPick.selectedItems[0] ?? quickPick.activeItems[0]));
    quickPick.onDidHide(() => resolve(undefined));
    quickPick.show();
  });
  quickPick.dispose();
  if (!chosen) return undefined;
  try {
    parseHubSpec(chosen.model);
  } catch (error) {
    void vscode.window.showErrorMessage(error instanceof Error ? error.message : String(error));
    return undefined;
  }
  return chosen.model;
}

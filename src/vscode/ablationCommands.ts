/**
 * @file Head ablation in VS Code: "Ablate Head..." (a head given as the argument, or picked from
 * the trace on show), "Clear Ablation", and the panel's requests (overview "Ablate Head", the
 * Ablation view's remove buttons, Clear and mode). Each changes the controller's list of heads and
 * runs the last text again with it.
 */
import * as vscode from 'vscode';
import type { AblationTarget } from '../engine';
import type { BlockKind } from '../shared/trace';
import type { AttentionViews } from './attentionViews';
import type { ExplainController } from './explainCommand';

const BLOCK_KINDS: readonly BlockKind[] = ['self', 'encoder-self', 'decoder-self', 'cross'];

const KIND_NAMES: Readonly<Record<BlockKind, string>> = {
  'self': 'self-attention',
  'encoder-self': 'encoder self-attention',
  'decoder-self': 'decoder self-attention',
  'cross': 'cross-attention',
};

/** A command argument that names a head ({layer, head, kind?}), or undefined when it does not. */
export function ablationTargetOf(value: unknown): AblationTarget | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!whole(raw.layer) || !whole(raw.head)) return undefined;
  if (raw.kind !== undefined && !(BLOCK_KINDS as readonly unknown[]).includes(raw.kind)) return undefined;
  return { layer: raw.layer, head: raw.head, ...(raw.kind !== undefined ? { kind: raw.kind as BlockKind } : {}) };
}

/** Whether the trace on show has the head (with its kind, when given); without a trace the engine checks. */
function headExists(views: AttentionViews, target: AblationTarget): boolean {
  const trace = views.currentTrace?.trace.overview;
  if (!trace) return true;
  return trace.blocks.some((block) => block.layer === target.layer && target.head < block.heads && (target.kind === undefined || block.kind === target.kind));
}

/** A quick pick of the heads of the trace on show that are not ablated yet. */
async function pickHead(views: AttentionViews, controller: ExplainController): Promise<AblationTarget | undefined> {
  const trace = views.currentTrace?.trace.overview;
  if (!trace) {
    void vscode.window.showInformationMessage('Explain a selection first (Attention Lens: Explain Attention), then pick a head to ablate.');
    return undefined;
  }
  const ablated = controller.ablation.heads;
  const kinds = new Set(trace.blocks.map((block) => block.kind));
  const items: Array<vscode.QuickPickItem & { target: AblationTarget }> = [];
  for (const block of trace.blocks) {
    for (let head = 0; head < block.heads; head++) {
      if (ablated.some((target) => target.layer === block.layer && target.head === head && (target.kind ?? block.kind) === block.kind)) continue;
      items.push({
        label: `L${block.layer} H${head}`,
        description: kinds.size > 1 ? KIND_NAMES[block.kind] : undefined,
        target: { kind: block.kind, layer: block.layer, head },
      });
    }
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Ablate Head',
    placeHolder: 'The head whose output is switched off (type e.g. "L0 H3"); the text runs again',
    matchOnDescription: true,
  });
  return picked?.target;
}

/** Registers the commands and follows the panels' requests. */
export function registerAblation(controller: ExplainController, views: AttentionViews): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('attentionLens.ablateHead', async (argument?: unknown) => {
      const target = ablationTargetOf(argument) ?? (argument === undefined ? await pickHead(views, controller) : undefined);
      if (!target) return;
      if (!headExists(views, target)) {
        void vscode.window.showErrorMessage(`Attention Lens: the model on show has no ${target.kind ? `${KIND_NAMES[target.kind]} ` : ''}layer ${target.layer} head ${target.head} to ablate (layers and heads count from 0).`);
        return;
      }
      await controller.changeAblation({ action: 'add', head: target });
    }),
    vscode.commands.registerCommand('attentionLens.clearAblation', () => controller.changeAblation({ action: 'clear' })),
    views.onDidRequestAblation((message) => {
      if (message.action === 'mode' && message.mode) void controller.changeAblation({ action: 'mode', mode: message.mode });
      else if (message.action === 'clear') void controller.changeAblation({ action: 'clear' });
      else if ((message.action === 'add' || message.action === 'remove') && message.head) void controller.changeAblation({ action: message.action, head: message.head });
    }),
  ];
}

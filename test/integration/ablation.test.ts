/**
 * Head ablation through VS Code's commands, in the real extension host: "Ablate Head..." with the
 * trained default model's previous-token head (found by its statistics, as the engine's test finds
 * it) runs the text again and the trace carries what changed (mean KL > 0.01 bits on repeated
 * text, the head listed, the attention shown still the original run's); the mode follows the
 * setting; "Clear Ablation" gives a plain run; a head the model lacks is refused.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { AttentionTrace } from '../../src/shared/trace';
import type { AttentionLensApi } from '../../src/vscode/extension';

const EXTENSION_ID = 'attention-lens.attention-lens';
const DEFAULT_MODEL = 'builtin:trained-decoder';
/** 128 characters (128 byte tokens, the speed case) of a line that repeats itself, where copying needs the previous-token head. */
const REPEATED = 'The quick zebra juggles seven violet kites; the quick zebra juggles seven violet kites. '.repeat(2).slice(0, 128);

async function api(): Promise<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

/** Runs `command` and resolves with the run it starts (its whole trace, or its error) and how long that took. */
async function runOf(command: string, ...args: unknown[]): Promise<{ trace?: AttentionTrace; error?: Error; ms: number }> {
  const lens = await api();
  const finished = lens.nextRun();
  const start = performance.now();
  await vscode.commands.executeCommand(command, ...args);
  const result = await finished;
  return { ...result, ms: performance.now() - start };
}

function meanKl(trace: AttentionTrace | undefined): number {
  const kl = trace?.ablation?.kl ?? [];
  assert.ok(kl.length > 0, 'the ablation has a KL per position');
  return kl.reduce((sum, value) => sum + value, 0) / kl.length;
}

describe('head ablation in VS Code', function () {
  this.timeout(120_000);
  let plain: AttentionTrace;
  let changedSetting = false;

  before(async () => {
    const lens = await api();
    const config = vscode.workspace.getConfiguration('attentionLens');
    if (lens.model() !== DEFAULT_MODEL) {
      await config.update('model', DEFAULT_MODEL, vscode.ConfigurationTarget.Workspace);
      changedSetting = true;
    }
    assert.equal(lens.model(), DEFAULT_MODEL);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const document = await vscode.workspace.openTextDocument({ content: `${REPEATED}\n`, language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(0, 0, 0, REPEATED.length);
    const result = await runOf('attentionLens.explainSelection');
    assert.equal(result.error, undefined, String(result.error));
    assert.ok(result.trace);
    plain = result.trace;
  });

  after(async () => {
    await vscode.commands.executeCommand('attentionLens.clearAblation');
    if (changedSetting) await vscode.workspace.getConfiguration('attentionLens').update('model', undefined, vscode.ConfigurationTarget.Workspace);
  });

  it('a plain run carries no ablation', async () => {
    assert.equal(plain.ablation, undefined);
    assert.deepEqual((await api()).ablation().heads, []);
  });

  it('"Ablate Head" on the previous-token head changes the predictions on repeated text (mean KL > 0.01 bits)', async () => {
    const stats = plain.analysis?.headStats ?? [];
    const best = stats.reduce((top, entry) => (entry.prevToken > top.prevToken ? entry : top));
    assert.ok(best.prevToken > 0.9, `a previous-token head exists (${best.prevToken})`);
    const block = plain.blocks[best.blockIndex];
    const ablated = await runOf('attentionLens.ablateHead', { layer: best.layer, head: best.head });
    assert.equal(ablated.error, undefined, String(ablated.error));
    const ablation = ablated.trace?.ablation;
    assert.ok(ablation, 'the trace carries the ablation');
    assert.deepEqual(ablation.heads, [{ blockIndex: best.blockIndex, kind: block.kind, layer: best.layer, head: best.head }]);
    assert.equal(ablation.mode, 'zero');
    assert.equal(ablation.kl?.length, REPEATED.length);
    const mean = meanKl(ablated.trace);
    assert.ok(mean > 0.01, `mean KL ${mean} bits`);
    assert.ok((ablation.changedTop?.length ?? 0) > 0, 'some top-1 predictions changed');
    // The later blocks' attention moved; the attention shown is still the original run's.
    assert.deepEqual(ablation.blocks.map((change) => change.blockIndex), plain.blocks.map((_, index) => index).filter((index) => index > best.blockIndex));
    assert.ok(ablation.blocks.every((change) => change.maxAbs > 0));
    ablated.trace?.blocks.forEach((shown, index) => assert.deepEqual(shown.probs, plain.blocks[index].probs, `block ${index}`));
    assert.deepEqual((await api()).ablation().heads, [{ layer: best.layer, head: best.head }]);
    const stages = (trace: AttentionTrace | undefined): string => (trace?.timings ?? []).map((timing) => `${timing.stage} ${timing.ms.toFixed(0)}`).join(', ');
    console.log(`      ablating L${best.layer} H${best.head} on ${REPEATED.length} tokens: mean KL ${mean.toFixed(4)} bits, ${ablation.changedTop?.length} top-1 changed; command → whole trace read ${ablated.ms.toFixed(0)} ms (engine ms: ${stages(ablated.trace)})`);

    // Mean ablation, from the setting, runs again and reports its own KL.
    const config = vscode.workspace.getConfiguration('attentionLens');
    await config.update('ablateMode', 'mean', vscode.ConfigurationTarget.Workspace);
    try {
      const meanRun = await runOf('attentionLens.ablateHead', { layer: best.layer, head: best.head });
      assert.equal(meanRun.error, undefined, String(meanRun.error));
      assert.equal(meanRun.trace?.ablation?.mode, 'mean');
      assert.deepEqual(meanRun.trace?.ablation?.heads, ablation.heads, 'the same head, listed once');
      assert.notDeepEqual(meanRun.trace?.ablation?.kl, ablation.kl);
      console.log(`      mean ablation, run again: command → whole trace read ${meanRun.ms.toFixed(0)} ms (engine ms: ${stages(meanRun.trace)})`);
    } finally {
      await config.update('ablateMode', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('a head the model lacks is refused without a run, and "Clear Ablation" runs the text plainly', async () => {
    const lens = await api();
    const before = lens.currentTrace()?.createdAt;
    await vscode.commands.executeCommand('attentionLens.ablateHead', { layer: 9, head: 0 });
    assert.equal(lens.currentTrace()?.createdAt, before, 'no run started');
    assert.equal(lens.ablation().heads.length, 1);
    const cleared = await runOf('attentionLens.clearAblation');
    assert.equal(cleared.error, undefined, String(cleared.error));
    assert.equal(cleared.trace?.ablation, undefined);
    assert.deepEqual(lens.ablation().heads, []);
    cleared.trace?.blocks.forEach((shown, index) => assert.deepEqual(shown.probs, plain.blocks[index].probs, `block ${index}`));
  });
});

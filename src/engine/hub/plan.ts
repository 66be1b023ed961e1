/**
 * @file What running a Hub model would download, asked before the run (HEAD requests only, nothing
 * fetched), so a host can have the user confirm a big download first. Light: no ONNX Runtime.
 */
import { DEFAULT_LIMITS } from '../limits';
import type { ExplainOptions } from '../options';
import { resolveHubModel } from './resolveModel';
import { hubSettings } from './settings';
import { isHubSpec, parseHubSpec } from './spec';
import { describeChoice } from './variants';

export interface HubDownloadPlan {
  /** "ORG/NAME@REVISION". */
  name: string;
  /** The variant that would run ("encoder + decoder" for a split export). */
  modelFile: string;
  /** Bytes that are not in the cache yet (0: all cached). */
  bytes: number;
}

/** null for a model that is not a Hub model, or when offline (nothing would be downloaded). */
export async function planHubDownload(options: ExplainOptions, signal?: AbortSignal): Promise<HubDownloadPlan | null> {
  if (!options.model || !isHubSpec(options.model)) return null;
  const settings = hubSettings(options.hub);
  if (settings.offline) return null;
  const ref = parseHubSpec(options.model);
  const plan = await resolveHubModel(settings, ref, { dtype: options.dtype ?? null, maxModelMB: options.limits?.maxModelMB ?? DEFAULT_LIMITS.maxModelMB, signal, planOnly: true });
  return { name: `${ref.repo}@${ref.revision}`, modelFile: describeChoice(plan), bytes: plan.downloadedBytes };
}

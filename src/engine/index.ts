/**
 * @file The engine as the hosts (the VS Code extension, the CLI) reach it: this module and
 * src/shared/ are all they import. What runs models lives behind EngineClient, in its own thread;
 * what is exported here besides is light: options and their checks, limits, the built-in presets'
 * descriptions, safe file reading and atomic writing, and the pieces the hosts word or save.
 * Lint (eslint.config.mjs) keeps the hosts from importing anything else of the engine.
 */
export { summarizeHeads } from './analysis/headSummary';
export { inductionProbe } from './analysis/inductionProbe';
export { argmaxDisagreements } from './analysis/valueWeighted';
export { describeWriteError, type FileContent, removePartialFiles, writeFileAtomic } from './atomicFile';
export type { ExportedModel, ExportOptions } from './exportModel';
export { DEFAULT_LIMITS, MAX_TEXT_BYTES, type ResourceLimits } from './limits';
export { type DownloadProgress } from './hub/download';
export { type HubDownloadPlan, planHubDownload } from './hub/plan';
export { DEFAULT_ENDPOINT, defaultHubCache, HUB_DTYPES, type HubDtype, type HubOptions, hubSettings } from './hub/settings';
export { formatHubRef, type HubModelRef, isHubSpec, parseHubSpec } from './hub/spec';
export { EXPORT_FAULTS, type ExportFault } from './onnx/exportFaults';
export { type InputSpec, parseInputSpec } from './onnx/inputSpec';
export {
  type AblationTarget, BACKEND_SETTINGS, type BackendSetting, DEFAULT_MAX_TOKENS, DEFAULT_MODEL, DEFAULT_TOP_K, effectiveThreads, type ExplainOptions, MAX_ABLATED_HEADS, MAX_TOKENS_CEILING, MAX_TOP_K, validateOptions,
} from './options';
export { DEFAULT_PRESET, isBuiltinSpec, PRESET_NAMES, PRESETS, type PresetName, SHIPPED_WEIGHTS } from './reference/config';
export { buildHtmlReport } from './report/htmlReport';
export { decodeUtf8, readRegularFile } from './safeRead';
export { EngineClient, type EngineClientOptions, EngineError } from './worker/engineClient';
export { type AttentionEngine, EngineProcessClient, type EngineProcessOptions, type HeldTrace } from './worker/engineProcessClient';
export { type LazyBlock, type LazyTrace, lazyTrace, TRACE_FILE_EXTENSION, TRACE_FILE_SCHEMA } from './traceFile/format';
export { TRACE_FILE_ERROR_CODES, type TraceFileErrorCode } from './traceFile/header';
export { type OpenTraceOptions, TraceFile } from './traceFile/reader';
export { type TraceFileOptions, traceFilePieces, writeTraceFile } from './traceFile/writer';

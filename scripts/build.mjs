// Bundles every runtime with esbuild: the extension host (CommonJS, vscode external), the engine
// worker, the CLI, and the webview (browser), and copies the runtimes' binaries beside them.
// Usage: node scripts/build.mjs [--production] [--watch] [--target PLATFORM-ARCH]
// The target (default: ATTENTION_LENS_VSIX_TARGET, else this machine) picks the platform whose
// native binaries (onnxruntime-node, Dawn) go into dist/; package.mjs builds each .vsix's that way.
import * as esbuild from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { dawnPlatform, hostTarget, listFiles, onnxruntimeCommonFiles, onnxruntimeNodeFiles } from './platform-files.mjs';
import { writeThirdPartyNotices } from './third-party-notices.mjs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const targetAt = process.argv.indexOf('--target');
const target = (targetAt > 0 ? process.argv[targetAt + 1] : undefined) ?? process.env.ATTENTION_LENS_VSIX_TARGET ?? hostTarget();

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // onnxruntime-node is native: resolved at run time from dist/node_modules/ (copyOrtNode below).
  external: ['vscode', 'onnxruntime-node'],
  // Native addons (Dawn's dawn.node) are loaded by path at run time, never bundled.
  loader: { '.node': 'empty' },
};

/** onnxruntime-web's WebAssembly runtime, copied beside the bundles that load it (see runtime.ts). */
function copyOrtWasm() {
  const require = createRequire(import.meta.url);
  const dist = path.dirname(require.resolve('onnxruntime-web'));
  // The plain build runs WASM; the asyncify build is the one onnxruntime-web's WebGPU provider needs.
  const files = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs'];
  for (const file of files) copyFileSync(path.join(dist, file), path.join('dist', file));
  return { label: 'ONNX Runtime WebAssembly', folder: path.dirname(dist), license: 'MIT', files: files.map((file) => `dist/${file}`) };
}

/** Copies `file` unless the copy is already there with the same size and time (the library is 45 MB). */
function copyIfChanged(from, to) {
  const source = statSync(from);
  if (existsSync(to)) {
    const copy = statSync(to);
    if (copy.size === source.size && copy.mtimeMs === source.mtimeMs) return;
  }
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
  // The source's time, so the next build sees the copy as current.
  utimesSync(to, source.atime, source.mtime);
}

/**
 * Dawn's Node bindings (npm `webgpu`) for the target, copied to dist/webgpu/<platform>/ where the
 * engine worker loads them (src/engine/onnx/webgpu.ts). The package holds every platform's binary
 * (130 MB); a .vsix carries its target's (`vsce package --target` per platform, scripts/package.mjs).
 */
function copyDawn() {
  const require = createRequire(import.meta.url);
  const platform = dawnPlatform(target);
  const source = path.join(path.dirname(require.resolve('webgpu')), 'dist', platform);
  // Another target's files must not stay behind: .vscodeignore ships all of dist/webgpu/.
  rmSync(path.join('dist', 'webgpu'), { recursive: true, force: true });
  if (!existsSync(path.join(source, 'dawn.node'))) {
    console.warn(`webgpu: no Dawn binary for ${platform}; the WebGPU backend will fall back to WASM`);
    return undefined;
  }
  mkdirSync(path.join('dist', 'webgpu', platform), { recursive: true });
  const files = readdirSync(source);
  for (const file of files) copyFileSync(path.join(source, file), path.join('dist', 'webgpu', platform, file));
  // The package's LICENSE.md is Dawn's BSD-3-Clause licence (its package.json says MIT, for its own scripts).
  return { label: "Dawn's Node bindings", folder: path.resolve(source, '../..'), license: 'BSD-3-Clause', files: files.map((file) => `dist/webgpu/${platform}/${file}`) };
}

/**
 * onnxruntime-node for the target, copied to dist/node_modules/ with the onnxruntime-common it
 * requires: `require('onnxruntime-node')` in the bundles (external) finds it there, in the
 * repository and in the installed .vsix alike. Only the target's binding and ONNX Runtime library
 * (scripts/platform-files.mjs says which, and why the rest stays out).
 */
function copyOrtNode() {
  const require = createRequire(import.meta.url);
  // The folder of a package (its `exports` may hide package.json): up from its entry point.
  const packageFolder = (resolve, name) => {
    let folder = path.dirname(resolve(name));
    while (!existsSync(path.join(folder, 'package.json')) || JSON.parse(readFileSync(path.join(folder, 'package.json'), 'utf8')).name !== name) folder = path.dirname(folder);
    return folder;
  };
  const ortNode = packageFolder(require.resolve, 'onnxruntime-node');
  // onnxruntime-common as onnxruntime-node itself resolves it (the version it pins).
  const common = packageFolder(createRequire(path.join(ortNode, 'package.json')).resolve, 'onnxruntime-common');
  const out = path.join('dist', 'node_modules');
  const { js, binaries } = onnxruntimeNodeFiles(target, listFiles(ortNode));
  const commonFiles = onnxruntimeCommonFiles(listFiles(common));
  // Another target's binaries must not stay behind (the .vsix ships all of dist/node_modules/).
  for (const folder of listFiles(path.join(ortNode, 'bin')).map((file) => file.split('/').slice(0, 3).join('/'))) {
    if (!binaries.some((file) => file.startsWith(`bin/${folder}/`))) rmSync(path.join(out, 'onnxruntime-node', 'bin', folder), { recursive: true, force: true });
  }
  for (const file of [...js, ...binaries]) copyIfChanged(path.join(ortNode, file), path.join(out, 'onnxruntime-node', file));
  for (const file of commonFiles) copyIfChanged(path.join(common, file), path.join(out, 'onnxruntime-common', file));
  if (binaries.length === 0) console.warn(`onnxruntime-node: no binary for ${target}; the native backend will fall back to WASM`);
  const where = (name, files) => files.map((file) => `dist/node_modules/${name}/${file}`);
  return [
    ...(binaries.length > 0 ? [{ label: 'ONNX Runtime native CPU build', folder: ortNode, license: 'MIT', files: where('onnxruntime-node', binaries) }] : []),
    { label: "onnxruntime-node's loader", folder: ortNode, license: 'MIT', files: where('onnxruntime-node', js) },
    { label: "onnxruntime-node's JavaScript API", folder: common, license: 'MIT', files: [`dist/node_modules/onnxruntime-common/ (${commonFiles.length} files)`] },
  ];
}

const builds = [
  { ...node, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['src/engine/worker/engineWorker.ts'], outfile: 'dist/engineWorker.js' },
  // The engine's own process (VS Code runs the engine there, off the shared extension host).
  { ...node, entryPoints: ['src/engine/worker/engineProcess.ts'], outfile: 'dist/engineProcess.js' },
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The WebGPU survey's child process (src/engine/onnx/webgpu.ts surveyWebGpu).
  { ...node, entryPoints: ['src/engine/onnx/gpuSurvey.ts'], outfile: 'dist/gpuSurvey.js' },
  {
    bundle: true,
    platform: 'browser',
    target: 'chrome120',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    // chart.js's licence comments go to dist/webview.js.LEGAL.txt (shipped), so the page's script
    // itself names no remote address at all (a test scans the bundles).
    legalComments: 'external',
  },
  {
    // The stand-in host of the self-contained HTML report (src/engine/report/htmlReport.ts).
    bundle: true,
    platform: 'browser',
    target: 'chrome120',
    format: 'iife',
    minify: production,
    logLevel: 'warning',
    entryPoints: ['src/report/reportHost.ts'],
    outfile: 'dist/reportHost.js',
  },
];

mkdirSync('dist', { recursive: true });
const binaries = [copyOrtWasm(), copyDawn(), ...copyOrtNode()].filter((binary) => binary !== undefined);
// Each bundle's metafile names the node_modules files in it: the packages the licence notices list.
const inputs = new Map();
if (watch) {
  // The notices follow the first build; restart the watch after adding a dependency.
  for (const options of builds) {
    const context = await esbuild.context({ ...options, metafile: true });
    inputs.set(options.outfile, Object.keys((await context.rebuild()).metafile.inputs));
    await context.watch();
  }
  console.log('watching for changes…');
} else {
  const results = await Promise.all(builds.map((options) => esbuild.build({ ...options, metafile: true })));
  results.forEach((result, i) => inputs.set(builds[i].outfile, Object.keys(result.metafile.inputs)));
  chmodSync('dist/cli.js', 0o755);
}
const { displayName } = JSON.parse(readFileSync('package.json', 'utf8'));
writeThirdPartyNotices('dist/THIRD_PARTY_NOTICES.txt', displayName, inputs, binaries);

// Bundles every runtime with esbuild: the extension host (CommonJS, vscode external), the engine
// worker, the CLI, and the webview (browser). Usage: node scripts/build.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { writeThirdPartyNotices } from './third-party-notices.mjs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // onnxruntime-node is optional and native: resolved at run time when the user installed it.
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

/**
 * Dawn's Node bindings (npm `webgpu`) for this platform, copied to dist/webgpu/<platform>/ where the
 * engine worker loads them (src/engine/onnx/webgpu.ts). The package holds every platform's binary
 * (130 MB); a .vsix carries the one it is built on (`vsce package --target` per platform).
 */
function copyDawn() {
  const require = createRequire(import.meta.url);
  const platform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
  const source = path.join(path.dirname(require.resolve('webgpu')), 'dist', platform);
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
const binaries = [copyOrtWasm(), copyDawn()].filter((binary) => binary !== undefined);
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

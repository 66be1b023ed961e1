// Which native files each platform's .vsix carries: onnxruntime-node's CPU build (its binding and
// the ONNX Runtime library it links) and Dawn's Node bindings (npm `webgpu`). Used by build.mjs (to
// copy them into dist/), package.mjs (to check each .vsix) and the tests.
import { readdirSync } from 'node:fs';
import * as path from 'node:path';

/** The platforms `npm run package` builds a .vsix for (`vsce package --target`). */
export const VSIX_TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];

/** A .vsix over this many bytes fails the packaging (and its test). */
export const VSIX_SIZE_LIMIT = 45 * 2 ** 20;

/** The target of the machine this runs on (`linux-x64`, `darwin-arm64`, …). */
export function hostTarget() {
  return `${process.platform}-${process.arch}`;
}

function split(target) {
  const [os, arch] = target.split('-');
  if (!os || !arch) throw new Error(`not a platform target: ${target}`);
  return { os, arch };
}

/**
 * onnxruntime-node's files a target needs, relative to its package folder: the JavaScript that
 * loads the binding, and the binding with the libraries it links at load time. Left out:
 *   - darwin's second copy of the library (`libonnxruntime.1.30.0.dylib`; the binding links
 *     `@rpath/libonnxruntime.1.dylib`), 45 MB;
 *   - Windows' DirectML.dll, dxcompiler.dll and dxil.dll (the DirectML and WebGPU execution
 *     providers, which this extension does not use; onnxruntime.dll does not link them at load
 *     time), 20-25 MB compressed, which would take the .vsix past its size limit;
 *   - the TypeScript sources, type declarations, source maps and install scripts.
 * `files` lists what the package has (for the bin/ folder of the target); only those are kept.
 */
export function onnxruntimeNodeFiles(target, files) {
  const { os, arch } = split(target);
  const binDir = `bin/napi-v6/${os}/${arch}/`;
  const leftOut = /^(DirectML\.dll|dxcompiler\.dll|dxil\.dll|libonnxruntime\.\d+\.\d+\.\d+\.dylib)$/;
  const binaries = files.filter((file) => file.startsWith(binDir) && !file.slice(binDir.length).includes('/') && !leftOut.test(file.slice(binDir.length)));
  const js = files.filter((file) => /^dist\/[^/]+\.js$/.test(file));
  return { js: ['package.json', ...js], binaries };
}

/** onnxruntime-common's files onnxruntime-node's JavaScript requires (its CommonJS build). */
export function onnxruntimeCommonFiles(files) {
  return ['package.json', ...files.filter((file) => /^dist\/cjs\/.+\.js$/.test(file) || file === 'dist/cjs/package.json')];
}

/** Dawn's folder for a target in npm `webgpu` (one universal binary for macOS). */
export function dawnPlatform(target) {
  const { os } = split(target);
  return os === 'darwin' ? 'darwin-universal' : target;
}

/** Every file under `folder`, as paths relative to it with forward slashes. */
export function listFiles(folder, prefix = '') {
  const out = [];
  for (const entry of readdirSync(path.join(folder, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(folder, relative));
    else out.push(relative);
  }
  return out;
}

/**
 * The native files a target's .vsix must hold (paths inside the .vsix), given the folders of
 * onnxruntime-node and webgpu: what package.mjs and the tests check a .vsix against.
 */
export function expectedNativeEntries(target, ortNodeFolder, webgpuFolder) {
  const ort = onnxruntimeNodeFiles(target, listFiles(ortNodeFolder));
  const dawn = dawnPlatform(target);
  const dawnFiles = readdirSync(path.join(webgpuFolder, 'dist', dawn));
  return [
    ...ort.binaries.map((file) => `extension/dist/node_modules/onnxruntime-node/${file}`),
    ...dawnFiles.map((file) => `extension/dist/webgpu/${dawn}/${file}`),
  ];
}

/** Entries of a .vsix that are native files of some other platform than `target`. */
export function foreignNativeEntries(target, names) {
  const { os, arch } = split(target);
  const dawn = dawnPlatform(target);
  return names.filter((name) => {
    const ort = /^extension\/dist\/node_modules\/onnxruntime-node\/bin\/napi-v6\/([^/]+)\/([^/]+)\//.exec(name);
    if (ort) return ort[1] !== os || ort[2] !== arch;
    const webgpu = /^extension\/dist\/webgpu\/([^/]+)\//.exec(name);
    if (webgpu) return webgpu[1] !== dawn;
    return /\.(node|dll|dylib|so(\.\d+)*)$/.test(name);
  });
}

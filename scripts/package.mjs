// `npm run package`: one .vsix per platform (vsce package --target), each with only its platform's
// native binaries (onnxruntime-node's CPU build, Dawn), checked for foreign binaries and size.
// Usage: node scripts/package.mjs [--targets linux-x64,win32-x64] [--out-dir DIR]
// vsce runs `vscode:prepublish` (build.mjs --production) for each; ATTENTION_LENS_VSIX_TARGET
// tells that build which platform's binaries to copy into dist/. At the end dist/ is built again
// for this machine, so the CLI and the tests here keep their own platform's binaries.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { zipEntryNames } from './zip-names.mjs';
import { expectedNativeEntries, foreignNativeEntries, hostTarget, VSIX_SIZE_LIMIT, VSIX_TARGETS } from './platform-files.mjs';

const argument = (name) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const targets = argument('--targets')?.split(',') ?? VSIX_TARGETS;
const outDir = path.resolve(argument('--out-dir') ?? '.');
for (const target of targets) if (!VSIX_TARGETS.includes(target)) throw new Error(`unknown target ${target} (one of ${VSIX_TARGETS.join(', ')})`);

const require = createRequire(import.meta.url);
const vsce = path.join(path.dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
const folderOf = (name) => path.dirname(require.resolve(`${name}/package.json`, { paths: [process.cwd()] }));
const { name, version } = JSON.parse(readFileSync('package.json', 'utf8'));

mkdirSync(outDir, { recursive: true });
const made = [];
for (const target of targets) {
  const out = path.join(outDir, `${name}-${target}.vsix`);
  const started = performance.now();
  execFileSync(process.execPath, [
    vsce, 'package', '--target', target,
    // The bundles hold every dependency; the native ones are copied into dist/ (build.mjs).
    '--no-dependencies',
    // Relative links keep README's pictures working in the installed extension; no public address yet.
    '--no-rewrite-relative-links', '--allow-missing-repository',
    '--out', out,
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ATTENTION_LENS_VSIX_TARGET: target } });
  const names = zipEntryNames(out);
  const missing = expectedNativeEntries(target, folderOf('onnxruntime-node'), folderOf('webgpu')).filter((entry) => !names.includes(entry));
  const foreign = foreignNativeEntries(target, names);
  const bytes = statSync(out).size;
  const problems = [
    ...missing.map((entry) => `missing ${entry}`),
    ...foreign.map((entry) => `another platform's binary: ${entry}`),
    ...(bytes > VSIX_SIZE_LIMIT ? [`${(bytes / 2 ** 20).toFixed(1)} MB, over the ${VSIX_SIZE_LIMIT / 2 ** 20} MB limit`] : []),
  ];
  if (problems.length > 0) throw new Error(`${path.basename(out)}:\n  ${problems.join('\n  ')}`);
  made.push(`${path.relative(process.cwd(), out) || out} (${target}, ${(bytes / 2 ** 20).toFixed(1)} MB, ${names.length} files, ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
console.log(`${name} ${version}:\n  ${made.join('\n  ')}`);
if (targets[targets.length - 1] !== hostTarget()) {
  // dist/ holds the last target's binaries now: build it again for this machine.
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}

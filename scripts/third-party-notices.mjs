// dist/THIRD_PARTY_NOTICES.txt: the licence of every package whose code esbuild put into a bundle
// (read from the bundles' metafiles, so the list follows the code) and of the binaries copied into
// dist/, each from the package's own licence file in node_modules. Shipped in the .vsix.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Packages that ship no licence file of their own. ONNX Runtime's npm packages are built from the
 * repository both their package.json files name (github.com/Microsoft/onnxruntime), whose LICENSE
 * (MIT) is kept in scripts/licenses/.
 */
const LICENCE_OUTSIDE_PACKAGE = {
  'onnxruntime-node': 'scripts/licenses/onnxruntime-LICENSE.txt',
  'onnxruntime-web': 'scripts/licenses/onnxruntime-LICENSE.txt',
  'onnxruntime-common': 'scripts/licenses/onnxruntime-LICENSE.txt',
};

/** A phrase each licence text must contain, so a package that changes licence fails the build. */
const LICENCE_PHRASES = {
  MIT: 'Permission is hereby granted, free of charge',
  'BSD-3-Clause': 'Neither the name of',
  'Apache-2.0': 'Apache License',
};

/** node_modules/<name> (or node_modules/@scope/name) folders of the node_modules files among `inputs`. */
export function packageFolders(inputs) {
  const folders = new Set();
  for (const input of inputs) {
    // Greedy: the innermost node_modules holds the file (a nested copy is its own package and version).
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.split(path.sep).join('/'));
    if (match) folders.add(match[1]);
  }
  return [...folders];
}

function licenceFile(folder, name) {
  const own = readdirSync(folder).filter((file) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(file)).sort();
  if (own.length > 0) return path.join(folder, own[0]);
  const kept = LICENCE_OUTSIDE_PACKAGE[name];
  if (kept && existsSync(kept)) return kept;
  return undefined;
}

/** name, version, licence id and text of the package in `folder`; throws when it has no licence text. */
function describe(folder) {
  const manifest = JSON.parse(readFileSync(path.join(folder, 'package.json'), 'utf8'));
  const file = licenceFile(folder, manifest.name);
  if (!file) {
    throw new Error(`${manifest.name}@${manifest.version} (${folder}) ships code in the extension but has no licence file: add its licence text to scripts/licenses/ and to LICENCE_OUTSIDE_PACKAGE in scripts/third-party-notices.mjs`);
  }
  return { name: manifest.name, version: manifest.version, license: String(manifest.license ?? 'UNKNOWN'), file, text: readFileSync(file, 'utf8').trim() };
}

function checkText(entry, license) {
  const phrase = LICENCE_PHRASES[license];
  if (!phrase) throw new Error(`${entry.name}@${entry.version}: licence "${license}" is not one this build knows; review it and add it to LICENCE_PHRASES in scripts/third-party-notices.mjs`);
  if (!entry.text.includes(phrase)) throw new Error(`${entry.name}@${entry.version}: ${entry.file} does not read like ${license} (no "${phrase}")`);
}

/**
 * Writes the notices file; throws (failing the build) when a package has no licence text.
 * @param {string} out the file to write
 * @param {string} product the heading's name
 * @param {Map<string, string[]>} bundles bundle path → the input paths of its esbuild metafile
 * @param {{ label: string, folder: string, license: string, files: string[] }[]} binaries files
 *   copied into dist/ from a package, with the licence of what they were built from, which can
 *   differ from the package's `license` field (npm webgpu says MIT; the Dawn it ships is BSD-3-Clause)
 * @returns {{ name: string, version: string, license: string }[]} what the file lists
 */
export function writeThirdPartyNotices(out, product, bundles, binaries) {
  const sections = new Map();
  // `license` undefined: the package's own `license` field.
  const section = (folder, license) => {
    const key = path.resolve(folder);
    const entry = describe(folder);
    checkText(entry, license ?? entry.license);
    if (!sections.has(key)) sections.set(key, { entry, license: license ?? entry.license, where: [] });
    return sections.get(key);
  };
  for (const [bundle, inputs] of [...bundles].sort(([a], [b]) => a.localeCompare(b))) {
    for (const folder of packageFolders(inputs)) {
      const found = section(folder, undefined);
      const bundled = found.where.find((line) => line.startsWith('bundled into '));
      if (bundled) found.where[found.where.indexOf(bundled)] = `${bundled}, ${bundle}`;
      else found.where.unshift(`bundled into ${bundle}`);
    }
  }
  for (const binary of binaries) {
    const found = section(binary.folder, binary.license);
    if (found.license !== binary.license) throw new Error(`${found.entry.name}: bundled as ${found.license} but its binaries are declared ${binary.license}; list them separately`);
    const declared = found.entry.license === binary.license ? '' : ` (the package.json of ${found.entry.name} says ${found.entry.license}; its licence file is ${binary.license})`;
    found.where.push(`${binary.label}${declared}: ${binary.files.join(', ')}`);
  }
  const ordered = [...sections.values()].sort((a, b) => a.entry.name.localeCompare(b.entry.name));
  const rule = '='.repeat(100);
  const text = [
    `${product}: third-party software in this extension`,
    '',
    'Each section names an npm package, its version and licence, where its code is in the extension,',
    "and the package's licence text. Generated by scripts/build.mjs from the bundles' esbuild",
    'metafiles and the licence files in node_modules.',
    ...ordered.flatMap(({ entry, license, where }) => {
      const source = path.resolve(entry.file).startsWith(path.resolve('scripts')) ? ['licence text: from the repository its package.json names (the npm package ships none)'] : [];
      return ['', rule, `${entry.name} ${entry.version} (${license})`, ...where, ...source, rule, '', entry.text];
    }),
    '',
  ].join('\n');
  writeFileSync(out, text);
  return ordered.map(({ entry, license }) => ({ name: entry.name, version: entry.version, license }));
}

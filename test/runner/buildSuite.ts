/**
 * Bundles the extension-host suite (test/integration/*.ts) into out/test/integration, one CommonJS
 * file per source, with `vscode` and `mocha` left to the extension host's require. `folder` names
 * another suite folder under test/ (test/packaged, the installed-.vsix check).
 */
import { readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

export async function buildExtensionHostSuite(root: string, folder = 'integration'): Promise<string> {
  const source = path.join(root, 'test', folder);
  const out = path.join(root, 'out/test', folder);
  rmSync(out, { recursive: true, force: true });
  const entryPoints = readdirSync(source).filter((name) => name.endsWith('.ts')).map((name) => path.join(source, name));
  await esbuild.build({
    entryPoints,
    outdir: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  return out;
}

// Versions of the real VS Code used by the integration and UI tests, and where they are cached.
// code-server 4.139.1 is VS Code 1.139.1; it needs Node 24, which the npm registry ships as a package.
import * as os from 'node:os';
import * as path from 'node:path';

export const CODE_SERVER_VERSION = '4.139.1';
export const NODE24_VERSION = '24.22.3';

/** Cache folder outside the repository, keyed on the versions and the platform. */
export function cacheDir(): string {
  const base = process.env.ATTENTION_LENS_TEST_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'attention-lens-test');
  return path.join(base, `code-server-${CODE_SERVER_VERSION}_node-${NODE24_VERSION}_${process.platform}-${process.arch}`);
}

export function paths(dir = cacheDir()): { dir: string; nodePackage: string; node: string; codeServerEntry: string; marker: string } {
  const nodePackage = path.join(dir, 'node24', 'node_modules', `node-${process.platform}-${process.arch}`);
  return {
    dir,
    nodePackage,
    node: path.join(nodePackage, 'bin', 'node'),
    codeServerEntry: path.join(dir, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    marker: path.join(dir, '.complete'),
  };
}

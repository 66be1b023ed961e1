// Installs Node 24 and code-server into the test cache (see versions.mjs), once per version pair.
// Kept out of the project's package.json: code-server's postinstall refuses Node 20, and its native
// modules must be built against Node 24's headers. Usage: node --import tsx test/runner/install.ts [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CODE_SERVER_VERSION, NODE24_VERSION, cacheDir, paths } from './versions';

const target = cacheDir();
const done = paths(target);
if (existsSync(done.marker) && !process.argv.includes('--force')) {
  console.log(`code-server ${CODE_SERVER_VERSION} and Node ${NODE24_VERSION} already installed in ${target}`);
  process.exit(0);
}

// Install into a scratch folder and rename at the end, so an interrupted install never looks complete.
const scratch = `${target}.partial-${process.pid}`;
rmSync(scratch, { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });
const scratchPaths = paths(scratch);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

/**
 * The environment for the nested npm installs, without the npm_* variables of an outer `npm run`:
 * npm reads npm_config_* as its own config, and code-server's postinstall reads the Node version
 * from npm_config_user_agent, which would still name the outer Node 20.
 */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

function step(label: string, run: () => void): void {
  const start = Date.now();
  process.stdout.write(`${label}… `);
  run();
  console.log(`${((Date.now() - start) / 1000).toFixed(0)} s`);
}

try {
  step(`Node ${NODE24_VERSION} (npm package node-${process.platform}-${process.arch})`, () => {
    execFileSync(npm, ['install', '--prefix', path.join(scratch, 'node24'), ...quiet, `node-${process.platform}-${process.arch}@${NODE24_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'], env: cleanEnv({}) });
  });
  const version = execFileSync(scratchPaths.node, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v24.')) throw new Error(`expected Node 24, got ${version}`);

  step(`code-server ${CODE_SERVER_VERSION} (native modules compile; a few minutes)`, () => {
    execFileSync(npm, ['install', '--prefix', path.join(scratch, 'code-server'), ...quiet, `code-server@${CODE_SERVER_VERSION}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: cleanEnv({
        PATH: `${path.dirname(scratchPaths.node)}${path.delimiter}${process.env.PATH ?? ''}`,
        npm_config_nodedir: scratchPaths.nodePackage,
      }),
    });
  });
  if (!existsSync(scratchPaths.codeServerEntry)) throw new Error(`code-server entry missing: ${scratchPaths.codeServerEntry}`);
  writeFileSync(path.join(scratch, '.complete'), `${new Date().toISOString()}\n`);
  rmSync(target, { recursive: true, force: true });
  renameSync(scratch, target);
  console.log(`installed in ${target}`);
} catch (error) {
  rmSync(scratch, { recursive: true, force: true });
  console.error(`\nInstalling the VS Code test server failed: ${(error as Error).message}`);
  console.error('It needs the npm registry, Debian packages libkrb5-dev (for code-server\'s kerberos module) and a C++ toolchain.');
  process.exit(1);
}

// Installs Node 24 and code-server into the test cache (see versions.ts), once per version pair.
// Kept out of the project's package.json: code-server's postinstall refuses Node 20, and its native
// modules must be built against Node 24's headers. `npm test` calls installVsCodeServer() from its
// prerequisites step; `npm run setup:vscode` runs this file: node --import tsx test/runner/install.ts [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CODE_SERVER_VERSION, NODE24_VERSION, cacheDir, paths } from './versions';

export interface ServerInstall {
  dir: string;
  /** False when this call installed it. */
  alreadyInstalled: boolean;
  seconds: number;
}

/** Whether the cache holds a complete install (the marker is written last, after the rename). */
export function vsCodeServerInstalled(): boolean {
  return existsSync(paths(cacheDir()).marker);
}

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

/**
 * Installs code-server and Node 24 into the cache unless a complete install is there (or `force`).
 * Throws with what the install needs when it fails; a failed install leaves nothing behind.
 */
export function installVsCodeServer(options: { force?: boolean } = {}): ServerInstall {
  const start = Date.now();
  const target = cacheDir();
  if (vsCodeServerInstalled() && !options.force) return { dir: target, alreadyInstalled: true, seconds: 0 };

  // Install into a scratch folder and rename at the end, so an interrupted install never looks complete.
  const scratch = `${target}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const scratchPaths = paths(scratch);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];
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
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(
      `Installing the VS Code test server failed: ${(error as Error).message}\n` +
        "It needs the npm registry, a C++ toolchain (g++, make, python3) and Debian's libkrb5-dev (for code-server's kerberos module).",
    );
  }
  return { dir: target, alreadyInstalled: false, seconds: (Date.now() - start) / 1000 };
}

if (require.main === module) {
  try {
    const result = installVsCodeServer({ force: process.argv.includes('--force') });
    console.log(result.alreadyInstalled ? `code-server ${CODE_SERVER_VERSION} and Node ${NODE24_VERSION} already installed in ${result.dir}` : `installed in ${result.dir}`);
  } catch (error) {
    console.error(`\n${(error as Error).message}`);
    process.exit(1);
  }
}

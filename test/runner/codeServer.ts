/**
 * Starts and stops a real VS Code (code-server, from the test cache) for the integration and UI
 * tests. Everything it starts it stops by PID; all its state lives in one temporary folder.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CODE_SERVER_VERSION, paths } from './versions';

/**
 * The runner's environment without Hugging Face's variables: the extension hosts would otherwise
 * download into (or read from) the developer's real cache or endpoint instead of the private HOME.
 */
function withoutHubVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^(HF_|HUGGING_FACE_)/.test(name)));
}

export interface CodeServer {
  url: string;
  port: number;
  /** Root of this run's private state (HOME, TMPDIR, user data, extensions). */
  stateDir: string;
  process: ChildProcess;
  /** Everything code-server printed, for failure reports. */
  log: string[];
  stop(): Promise<void>;
}

/** Settings that keep the workbench quiet and predictable for tests. */
const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'update.mode': 'none',
  'window.commandCenter': false,
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${timeoutMs} ms`);
}

/**
 * @param options.install .vsix files installed (`--install-extension`) into this run's private
 *   extensions folder before the server starts
 */
export async function startCodeServer(options: { verbose?: boolean; install?: string[] } = {}): Promise<CodeServer> {
  const installed = paths();
  if (!existsSync(installed.marker)) {
    throw new Error(`code-server ${CODE_SERVER_VERSION} is not installed in ${installed.dir}. Run: npm run setup:vscode`);
  }
  const stateDir = mkdtempSync(path.join(tmpdir(), 'attention-lens-vscode-'));
  const dirs = { home: 'home', tmp: 'tmp', userData: 'user-data', extensions: 'extensions' };
  for (const dir of Object.values(dirs)) mkdirSync(path.join(stateDir, dir), { recursive: true });
  mkdirSync(path.join(stateDir, dirs.userData, 'User'), { recursive: true });
  writeFileSync(path.join(stateDir, dirs.userData, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
  const configFile = path.join(stateDir, 'config.yaml');
  writeFileSync(configFile, 'auth: none\ncert: false\n');

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    installed.codeServerEntry,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--reconnection-grace-time', '5',
    '--vscode-option', 'enable-smoke-test-driver',
    '--user-data-dir', path.join(stateDir, dirs.userData),
    '--extensions-dir', path.join(stateDir, dirs.extensions),
    '--config', configFile,
  ];
  const env = { ...withoutHubVariables(process.env), HOME: path.join(stateDir, dirs.home), TMPDIR: path.join(stateDir, dirs.tmp), NODE_OPTIONS: '' };
  for (const vsix of options.install ?? []) {
    try {
      execFileSync(installed.node, [installed.codeServerEntry, '--user-data-dir', path.join(stateDir, dirs.userData), '--extensions-dir', path.join(stateDir, dirs.extensions), '--install-extension', vsix], { env, stdio: 'pipe', timeout: 120_000 });
    } catch (error) {
      rmSync(stateDir, { recursive: true, force: true });
      const output = error as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`code-server could not install ${vsix}: ${output.message}\n${output.stdout?.toString() ?? ''}${output.stderr?.toString() ?? ''}`);
    }
  }
  const child = spawn(installed.node, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group, so stop() can end code-server and every process it started.
    detached: true,
  });
  const log: string[] = [];
  const collect = (chunk: Buffer): void => {
    const text = chunk.toString();
    log.push(text);
    if (options.verbose) process.stderr.write(`[code-server] ${text}`);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(stateDir, { recursive: true, force: true });
  };

  try {
    await waitForHealth(url, child, 60_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${log.join('')}`);
  }
  return { url, port, stateDir, process: child, log, stop };
}

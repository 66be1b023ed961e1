/**
 * The first step of `npm test`: installs what the tests need outside node_modules, before the slow
 * part, so a fresh machine fails in seconds with the command to run instead of after the unit tests.
 *   1. Debian packages (see DEBIAN_PACKAGES for why each one), with apt-get as root or through
 *      passwordless sudo; otherwise one line naming the command, and a non-zero exit.
 *   2. The VS Code test server (code-server and Node 24) into the cache, as `npm run setup:vscode`.
 * Without dpkg (not Debian) it checks for a Chromium binary and leaves the rest to the install's
 * own error message. Usage: node --import tsx test/runner/prerequisites.ts
 */
import { spawnSync } from 'node:child_process';
import { chromiumPath } from './browser';
import { installVsCodeServer, vsCodeServerInstalled } from './install';
import { CODE_SERVER_VERSION, NODE24_VERSION, cacheDir } from './versions';

export interface DebianPackage {
  name: string;
  why: string;
  /** Needed only to build the VS Code test server, so not checked once the cache holds it. */
  onlyToInstallServer: boolean;
}

export const DEBIAN_PACKAGES: readonly DebianPackage[] = [
  { name: 'chromium', why: 'drives the VS Code web workbench; its SwiftShader Vulkan ICD gives the WebGPU tests an adapter', onlyToInstallServer: false },
  { name: 'libvulkan1', why: 'the Vulkan loader that Dawn (npm webgpu) opens in the WebGPU tests', onlyToInstallServer: false },
  // Debian's, not pip's: the trace file test runs scripts/attention_lens_dump.py with /usr/bin/python3.
  { name: 'python3-numpy', why: 'the trace file test writes a trace with scripts/attention_lens_dump.py and reads ours with numpy', onlyToInstallServer: false },
  { name: 'libkrb5-dev', why: "gssapi headers: code-server's kerberos module compiles against them", onlyToInstallServer: true },
  // node-gyp's toolchain, for code-server's native modules; a slim Debian image has none of them.
  { name: 'g++', why: "compiles code-server's native modules", onlyToInstallServer: true },
  { name: 'make', why: "node-gyp drives the native builds with it", onlyToInstallServer: true },
  { name: 'python3', why: 'node-gyp is written in Python', onlyToInstallServer: true },
];

/** How this process may run apt-get. */
export type Privilege = 'root' | 'sudo' | 'none';

export type PackagePlan =
  | { action: 'nothing' }
  | { action: 'install'; commands: string[][] }
  | { action: 'refuse'; message: string };

/** What to do about the missing packages: the apt-get commands to run, or the line to print. */
export function planDebianPackages(missing: readonly string[], privilege: Privilege): PackagePlan {
  if (missing.length === 0) return { action: 'nothing' };
  const update = ['apt-get', 'update', '-qq'];
  // env, not a bare VAR=value, because sudo's env_reset would drop the variable.
  const install = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing];
  if (privilege === 'root') return { action: 'install', commands: [update, install] };
  if (privilege === 'sudo') return { action: 'install', commands: [['sudo', '-n', ...update], ['sudo', '-n', ...install]] };
  return {
    action: 'refuse',
    message: `The tests need the Debian packages ${missing.join(' ')}, and this user can run neither apt-get nor sudo without a password. As root, run: apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`,
  };
}

/** The machine, as the prerequisites step sees it; the unit test passes its own. */
export interface System {
  hasDpkg(): boolean;
  /** Whether dpkg has the package installed (not merely known, or removed with its config left). */
  isInstalled(name: string): boolean;
  privilege(): Privilege;
  /** Runs a command, showing its errors; throws when it fails. */
  run(command: readonly string[]): void;
  /** The Chromium the UI tests would launch, or undefined. */
  chromium(): string | undefined;
  serverInstalled(): boolean;
  /** Installs the VS Code test server; throws with what it needs when it fails. */
  installServer(): void;
  log(line: string): void;
  now(): number;
}

export type Outcome = { ok: true } | { ok: false; message: string };

function seconds(system: System, start: number): string {
  return `${Math.round((system.now() - start) / 1000)} s`;
}

function ensureDebianPackages(system: System, serverInstalled: boolean): Outcome {
  const needed = DEBIAN_PACKAGES.filter((p) => !serverInstalled || !p.onlyToInstallServer).map((p) => p.name);
  const missing = needed.filter((name) => !system.isInstalled(name));
  if (missing.length === 0) {
    system.log(`Debian packages: ${needed.join(' ')} already installed`);
    return { ok: true };
  }
  const plan = planDebianPackages(missing, system.privilege());
  if (plan.action === 'nothing') return { ok: true };
  if (plan.action === 'refuse') return { ok: false, message: plan.message };
  const start = system.now();
  system.log(`Debian packages: installing ${missing.join(' ')} (${plan.commands.map((c) => c.join(' ')).join(' && ')})`);
  try {
    for (const command of plan.commands) system.run(command);
  } catch (error) {
    return { ok: false, message: `Installing ${missing.join(' ')} with apt-get failed (${(error as Error).message}); run it yourself: ${plan.commands.map((c) => c.join(' ')).join(' && ')}` };
  }
  const still = missing.filter((name) => !system.isInstalled(name));
  if (still.length > 0) return { ok: false, message: `apt-get ran but ${still.join(' ')} is still not installed; run: ${plan.commands.map((c) => c.join(' ')).join(' && ')}` };
  system.log(`Debian packages: installed ${missing.join(' ')} in ${seconds(system, start)}`);
  return { ok: true };
}

/** Checks and installs everything, in order; stops at the first prerequisite that cannot be met. */
export function ensurePrerequisites(system: System): Outcome {
  const serverInstalled = system.serverInstalled();
  if (system.hasDpkg()) {
    const packages = ensureDebianPackages(system, serverInstalled);
    if (!packages.ok) return packages;
  } else {
    const browser = system.chromium();
    if (!browser) return { ok: false, message: 'The real-VS-Code tests need Chromium: install your system\'s chromium package, or set CHROMIUM_PATH to a Chromium or Chrome binary, then run npm test again.' };
    system.log(`Chromium: ${browser} (not Debian: the WebGPU tests also need a Vulkan loader and driver, and the VS Code test server's install a C++ toolchain and Kerberos headers)`);
  }
  if (serverInstalled) {
    system.log(`VS Code test server: code-server ${CODE_SERVER_VERSION} and Node ${NODE24_VERSION} already in ${cacheDir()}`);
    return { ok: true };
  }
  const start = system.now();
  system.log(`VS Code test server: installing code-server ${CODE_SERVER_VERSION} and Node ${NODE24_VERSION} into ${cacheDir()} (once; a few minutes)`);
  try {
    system.installServer();
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  system.log(`VS Code test server: installed in ${seconds(system, start)}`);
  return { ok: true };
}

function succeeds(command: string, args: readonly string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return !result.error && result.status === 0;
}

/** This machine. */
export const realSystem: System = {
  hasDpkg: () => succeeds('dpkg-query', ['--version']),
  isInstalled: (name) => {
    const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return result.status === 0 && result.stdout.trim() === 'install ok installed';
  },
  privilege: () => (process.getuid?.() === 0 ? 'root' : succeeds('sudo', ['-n', 'true']) ? 'sudo' : 'none'),
  run: (command) => {
    // apt's progress (hundreds of "Setting up" lines for chromium) would bury the test output.
    const result = spawnSync(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`${command.join(' ')} exited with ${result.status ?? result.signal}`);
  },
  chromium: () => {
    try {
      return chromiumPath();
    } catch {
      return undefined;
    }
  },
  serverInstalled: vsCodeServerInstalled,
  installServer: () => {
    installVsCodeServer();
  },
  log: (line) => console.log(`prerequisites: ${line}`),
  now: () => Date.now(),
};

if (require.main === module) {
  const outcome = ensurePrerequisites(realSystem);
  if (!outcome.ok) {
    console.error(outcome.message);
    process.exit(1);
  }
}

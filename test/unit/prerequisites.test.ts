/**
 * The decisions of `npm test`'s prerequisites step (test/runner/prerequisites.ts): which packages
 * are missing, how apt-get runs (root, sudo, neither), and when the VS Code test server installs.
 * The machine is a recording System, so nothing here runs apt-get or npm.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { DEBIAN_PACKAGES, type Privilege, type System, ensurePrerequisites, planDebianPackages } from '../runner/prerequisites';

interface Machine {
  system: System;
  ran: string[];
  logged: string[];
  serverInstalls: () => number;
}

function machine(options: { dpkg?: boolean; installed: string[]; privilege?: Privilege; aptWorks?: boolean; chromium?: string; server?: boolean; serverFails?: string }): Machine {
  const installed = new Set(options.installed);
  const ran: string[] = [];
  const logged: string[] = [];
  let server = options.server ?? true;
  let installs = 0;
  let clock = 0;
  const system: System = {
    hasDpkg: () => options.dpkg ?? true,
    isInstalled: (name) => installed.has(name),
    privilege: () => options.privilege ?? 'root',
    run: (command) => {
      ran.push(command.join(' '));
      if (options.aptWorks === false) throw new Error('exit code 100');
      // What apt-get install would do: the named packages become installed.
      const at = command.indexOf('install');
      if (at >= 0) for (const name of command.slice(at + 1).filter((arg) => !arg.startsWith('-'))) installed.add(name);
    },
    chromium: () => options.chromium,
    serverInstalled: () => server,
    installServer: () => {
      installs++;
      if (options.serverFails) throw new Error(options.serverFails);
      server = true;
    },
    log: (line) => logged.push(line),
    now: () => (clock += 1500),
  };
  return { system, ran, logged, serverInstalls: () => installs };
}

const all = DEBIAN_PACKAGES.map((p) => p.name);
const runtimeOnly = DEBIAN_PACKAGES.filter((p) => !p.onlyToInstallServer).map((p) => p.name);

test('the plan: nothing missing, root, passwordless sudo, neither', () => {
  assert.deepEqual(planDebianPackages([], 'none'), { action: 'nothing' });
  assert.deepEqual(planDebianPackages(['chromium', 'libkrb5-dev'], 'root'), {
    action: 'install',
    commands: [
      ['apt-get', 'update', '-qq'],
      ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium', 'libkrb5-dev'],
    ],
  });
  const sudo = planDebianPackages(['libvulkan1'], 'sudo');
  assert.equal(sudo.action, 'install');
  if (sudo.action === 'install') {
    // -n: never wait for a password prompt in the middle of npm test.
    assert.ok(sudo.commands.every((command) => command[0] === 'sudo' && command[1] === '-n'), JSON.stringify(sudo.commands));
    assert.deepEqual(sudo.commands[1]!.slice(-2), ['--no-install-recommends', 'libvulkan1']);
  }
  const refused = planDebianPackages(['chromium', 'libkrb5-dev'], 'none');
  assert.equal(refused.action, 'refuse');
  if (refused.action === 'refuse') {
    assert.doesNotMatch(refused.message, /\n/, 'one line');
    assert.match(refused.message, /apt-get update && apt-get install -y --no-install-recommends chromium libkrb5-dev$/);
  }
});

test('a machine with everything installs nothing and says so', () => {
  const m = machine({ installed: all, privilege: 'none' });
  assert.deepEqual(ensurePrerequisites(m.system), { ok: true });
  assert.deepEqual(m.ran, []);
  assert.equal(m.serverInstalls(), 0);
  assert.match(m.logged[0]!, /already installed/);
  assert.match(m.logged[1]!, /VS Code test server: .* already in /);
});

test('a fresh Debian machine as root: apt-get installs the missing packages, then the server installs', () => {
  const m = machine({ installed: ['make'], privilege: 'root', server: false });
  assert.deepEqual(ensurePrerequisites(m.system), { ok: true });
  const missing = all.filter((name) => name !== 'make');
  assert.deepEqual(m.ran, ['apt-get update -qq', `env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`]);
  assert.equal(m.serverInstalls(), 1);
  assert.ok(m.logged.some((line) => line === `Debian packages: installed ${missing.join(' ')} in 2 s`), m.logged.join('\n'));
  assert.ok(m.logged.some((line) => /^VS Code test server: installed in \d+ s$/.test(line)), m.logged.join('\n'));
});

test('the build-only packages are not asked for once the server is cached', () => {
  const m = machine({ installed: runtimeOnly, privilege: 'none', server: true });
  assert.deepEqual(ensurePrerequisites(m.system), { ok: true });
  assert.deepEqual(m.ran, []);
});

test('without root or sudo: one line naming the command, before the server install', () => {
  const m = machine({ installed: ['chromium'], privilege: 'none', server: false });
  const outcome = ensurePrerequisites(m.system);
  assert.equal(outcome.ok, false);
  if (!outcome.ok) {
    assert.doesNotMatch(outcome.message, /\n/);
    assert.match(outcome.message, /apt-get install -y --no-install-recommends libvulkan1 python3-numpy libkrb5-dev g\+\+ make python3$/);
  }
  assert.deepEqual(m.ran, []);
  assert.equal(m.serverInstalls(), 0);
});

test('with passwordless sudo apt-get runs through sudo -n', () => {
  const m = machine({ installed: all.filter((name) => name !== 'libvulkan1'), privilege: 'sudo' });
  assert.deepEqual(ensurePrerequisites(m.system), { ok: true });
  assert.deepEqual(m.ran, ['sudo -n apt-get update -qq', 'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1']);
});

test('a failing apt-get stops the step with the command to run', () => {
  const m = machine({ installed: [], privilege: 'root', aptWorks: false, server: false });
  const outcome = ensurePrerequisites(m.system);
  assert.equal(outcome.ok, false);
  if (!outcome.ok) assert.match(outcome.message, /failed \(exit code 100\); run it yourself: apt-get update -qq && env DEBIAN_FRONTEND/);
  assert.equal(m.serverInstalls(), 0);
});

test('not Debian: a Chromium binary is required, apt-get is never run', () => {
  const without = machine({ dpkg: false, installed: [], privilege: 'root' });
  const outcome = ensurePrerequisites(without.system);
  assert.equal(outcome.ok, false);
  if (!outcome.ok) {
    assert.doesNotMatch(outcome.message, /\n/);
    assert.match(outcome.message, /need Chromium: .*CHROMIUM_PATH/);
  }
  const withChromium = machine({ dpkg: false, installed: [], privilege: 'root', chromium: '/opt/chromium/chrome', server: false });
  assert.deepEqual(ensurePrerequisites(withChromium.system), { ok: true });
  assert.deepEqual(withChromium.ran, []);
  assert.equal(withChromium.serverInstalls(), 1);
});

test('a failed server install is reported with its reason', () => {
  const m = machine({ installed: all, server: false, serverFails: 'Installing the VS Code test server failed: gssapi/gssapi.h: No such file' });
  assert.deepEqual(ensurePrerequisites(m.system), { ok: false, message: 'Installing the VS Code test server failed: gssapi/gssapi.h: No such file' });
});

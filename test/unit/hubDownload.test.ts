/**
 * Fetching Hub models into the Hugging Face cache, against a real HTTP server on 127.0.0.1
 * (test/support/hubServer.ts): the cache layout, variants, offline use, and every fault the issue
 * lists (404, 401/403, no ONNX, unreachable, offline with nothing cached, truncated, dropped
 * connection with resume, wrong checksum, disk full, cancel), each ending in a hub-* code with
 * nothing half-written under a final name.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planHubDownload } from '../../src/engine/hub/plan';
import { resolveHubModel, type ResolveOptions } from '../../src/engine/hub/resolveModel';
import { defaultHubCache, hubSettings, type HubOptions } from '../../src/engine/hub/settings';
import { parseHubSpec } from '../../src/engine/hub/spec';
import { CancelledError, UserFacingError } from '../../src/shared/errors';
import { closedPort, type HubServer, startHubServer } from '../support/hubServer';
import { BERT_TOY, testRepos } from '../support/hubRepos';
import { tempFolder } from '../support/tempFolders';

const TOKEN = 'hf_testSecretToken123';
let server: HubServer;

before(async () => {
  server = await startHubServer(testRepos());
});
after(async () => {
  await server.close();
});

function settings(cacheDir: string, extra: HubOptions = {}) {
  return hubSettings({ endpoint: server.endpoint, cacheDir, ...extra }, {});
}

function resolve(spec: string, cacheDir: string, extra: HubOptions = {}, options: ResolveOptions = {}) {
  return resolveHubModel(settings(cacheDir, extra), parseHubSpec(spec), options);
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<UserFacingError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UserFacingError, `expected a UserFacingError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(`${error.message} ${error.hint}`, pattern);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

/** Every file under `folder`, relative, for "nothing half-written" checks. */
function listTree(folder: string): string[] {
  if (!existsSync(folder)) return [];
  const found: string[] = [];
  const walk = (current: string, prefix: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory()) walk(path.join(current, entry.name), `${name}/`);
      else found.push(name);
    }
  };
  walk(folder, '');
  return found.sort();
}

function requestsSince(start: number) {
  return server.requests.slice(start);
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('hf: specs and settings', () => {
  it('parses ORG/NAME[@REVISION] and refuses what no repository can be called', () => {
    assert.deepEqual(parseHubSpec('hf:Xenova/bert-base-uncased'), { repo: 'Xenova/bert-base-uncased', revision: 'main' });
    assert.deepEqual(parseHubSpec(' hf:onnx-community/gpt2@refs/pr/1 '), { repo: 'onnx-community/gpt2', revision: 'refs/pr/1' });
    assert.deepEqual(parseHubSpec('hf:gpt2@0123456789abcdef0123456789abcdef01234567'), { repo: 'gpt2', revision: '0123456789abcdef0123456789abcdef01234567' });
    for (const bad of ['hf:', 'hf:a/b/c', 'hf:../x', 'hf:org/na--me', 'hf:org/name@', 'hf:org/name@../main', 'hf:org/na me', 'hf:org/name@a//b']) {
      assert.throws(() => parseHubSpec(bad), (error: UserFacingError) => error.code === 'invalid-option' && /hf:ORG\/NAME/.test(error.hint), bad);
    }
  });

  it('reads HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE and HF_HOME, options first', () => {
    const env = { HF_ENDPOINT: 'http://127.0.0.1:9/', HF_TOKEN: 'hf_env', HF_HUB_OFFLINE: '1', HF_HOME: '/tmp/hf-home' };
    assert.deepEqual(hubSettings({}, env), { endpoint: 'http://127.0.0.1:9', token: 'hf_env', offline: true, cacheDir: '/tmp/hf-home/hub' });
    assert.equal(hubSettings({}, { ...env, HF_HUB_CACHE: '/tmp/hub-cache' }).cacheDir, '/tmp/hub-cache');
    const options = hubSettings({ endpoint: 'https://mirror.example/hf', token: 'hf_opt', offline: false, cacheDir: '/tmp/opt' }, env);
    assert.deepEqual(options, { endpoint: 'https://mirror.example/hf', token: 'hf_opt', offline: false, cacheDir: '/tmp/opt' });
    assert.equal(defaultHubCache({}, '/home/u'), '/home/u/.cache/huggingface/hub');
    assert.equal(hubSettings({}, {}).endpoint, 'https://huggingface.co');
    assert.throws(() => hubSettings({ endpoint: 'ftp://x' }, {}), /not an http\(s\) address/);
    assert.throws(() => hubSettings({ endpoint: 'https://user:pw@x' }, {}), /not an http\(s\) address/);
  });
});

describe('downloading into the Hugging Face cache', () => {
  it('writes blobs, snapshot links and refs/main as Python tools do; the token goes to the endpoint only', async () => {
    const cache = tempFolder('al-hub-');
    const start = server.requests.length;
    const progress: number[] = [];
    const began = performance.now();
    const local = await resolve('hf:lens-test/bert-toy', cache, { token: TOKEN }, { onDownload: (p) => progress.push(p.bytes) });
    const ms = performance.now() - began;
    const repoDir = path.join(cache, 'models--lens-test--bert-toy');
    const commit = readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8');
    assert.match(commit, /^[0-9a-f]{40}$/);
    assert.equal(local.commit, commit);
    assert.equal(local.modelFile, 'onnx/model.onnx');
    assert.equal(local.dtype, 'fp32');
    const link = path.join(repoDir, 'snapshots', commit, 'onnx', 'model.onnx');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), `../../../blobs/${sha256(BERT_TOY)}`, 'an LFS file is stored under its sha256');
    assert.deepEqual(readFileSync(local.modelPath), BERT_TOY);
    for (const side of ['tokenizer.json', 'tokenizer_config.json', 'config.json']) assert.ok(existsSync(path.join(repoDir, 'snapshots', commit, side)), side);
    assert.ok(local.tokenizerPath?.endsWith(path.join(commit, 'tokenizer.json')));
    // Regular files are stored under their git blob sha1 (the ETag the Hub gives them).
    const blobs = readdirSync(path.join(repoDir, 'blobs'));
    assert.equal(blobs.length, 4);
    assert.ok(blobs.every((name) => /^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(name)), blobs.join());
    assert.ok(listTree(cache).every((file) => !file.endsWith('.incomplete') && !file.endsWith('.tmp') && !file.endsWith('.lock')), listTree(cache).join());
    assert.equal((statSync(path.join(repoDir, 'blobs', sha256(BERT_TOY))).mode & 0o077), 0, 'blobs are private');
    // The token reached the Hub, never the CDN the LFS file was redirected to.
    const sent = requestsSince(start);
    assert.ok(sent.some((request) => request.server === 'cdn'));
    for (const request of sent) assert.equal(request.headers.authorization, request.server === 'hub' ? `Bearer ${TOKEN}` : undefined, `${request.server} ${request.path}`);
    assert.ok(sent.every((request) => /\/lens-test\/bert-toy\/resolve\/main\/|^\/lfs\//.test(request.path)), 'only resolve URLs (and the CDN) are asked');
    assert.ok(progress.length > 0 && progress.at(-1)! > 0);
    console.log(`  first download of ${(local.downloadedBytes / 1024).toFixed(0)} KB: ${ms.toFixed(0)} ms, ${sent.length} requests`);

    // Online again: HEADs only. Offline: no request at all, the same files.
    const again = server.requests.length;
    const began2 = performance.now();
    const cached = await resolve('hf:lens-test/bert-toy', cache);
    const onlineMs = performance.now() - began2;
    assert.equal(cached.downloadedBytes, 0);
    assert.ok(requestsSince(again).every((request) => request.method === 'HEAD'));
    const quiet = server.requests.length;
    const began3 = performance.now();
    const offline = await resolve('hf:lens-test/bert-toy', cache, { offline: true });
    const offlineMs = performance.now() - began3;
    assert.equal(server.requests.length, quiet, 'offline sends nothing');
    assert.equal(offline.modelPath, local.modelPath);
    assert.equal(offline.offline, true);
    console.log(`  cached open: online (HEADs only) ${onlineMs.toFixed(0)} ms, offline ${offlineMs.toFixed(1)} ms`);
  });

  it('a plan tells what a run would download, with HEAD requests only (VS Code confirms big ones)', async () => {
    const cache = tempFolder('al-hub-');
    const hub = { endpoint: server.endpoint, cacheDir: cache };
    const start = server.requests.length;
    const plan = await planHubDownload({ model: 'hf:lens-test/bert-toy', hub });
    assert.equal(plan?.name, 'lens-test/bert-toy@main');
    assert.equal(plan?.modelFile, 'onnx/model.onnx');
    assert.ok(plan && plan.bytes >= BERT_TOY.length, JSON.stringify(plan));
    assert.ok(requestsSince(start).every((request) => request.method === 'HEAD'));
    assert.deepEqual(listTree(cache), [], 'a plan writes nothing');
    await resolve('hf:lens-test/bert-toy', cache);
    assert.equal((await planHubDownload({ model: 'hf:lens-test/bert-toy', hub }))?.bytes, 0);
    assert.equal(await planHubDownload({ model: 'hf:lens-test/bert-toy', hub: { ...hub, offline: true } }), null);
    assert.equal(await planHubDownload({ model: 'builtin:tiny-decoder' }), null);
  });

  it('--dtype picks the variant; a missing one lists what the repository holds', async () => {
    const cache = tempFolder('al-hub-');
    const q8 = await resolve('hf:lens-test/bert-toy', cache, {}, { dtype: 'q8' });
    assert.equal(q8.modelFile, 'onnx/model_quantized.onnx');
    assert.equal(q8.dtype, 'q8');
    const error = await rejectsWith(resolve('hf:lens-test/bert-toy', cache, {}, { dtype: 'fp16' }), 'hub-no-onnx', /no fp16 ONNX model/);
    assert.match(error.message, /found: config\.json, onnx\/model\.onnx, onnx\/model_quantized\.onnx, tokenizer\.json, tokenizer_config\.json/);
    assert.match(error.hint, /\{\{option:dtype\}\}/);
    const optimum = await resolve('hf:lens-test/distilbert-optimum', cache);
    assert.equal(optimum.modelFile, 'model.onnx');
    assert.equal(optimum.tokenizerPath, null);
  });

  it('external data beside the model is fetched with it', async () => {
    const cache = tempFolder('al-hub-');
    const local = await resolve('hf:lens-test/bert-external', cache);
    assert.deepEqual(local.externalData.map((file) => file.file), ['onnx/model.onnx_data']);
    assert.ok(statSync(local.externalData[0].path).size > 1000);
  });

  it('a static server with none of the Hub\'s headers works: the revision stands in for the commit', async () => {
    const plain = await startHubServer(testRepos(), { style: 'static' });
    try {
      const cache = tempFolder('al-hub-');
      const local = await resolveHubModel(hubSettings({ endpoint: plain.endpoint, cacheDir: cache }, {}), parseHubSpec('hf:lens-test/bert-toy'));
      assert.equal(local.commit, 'main');
      assert.ok(existsSync(path.join(cache, 'models--lens-test--bert-toy', 'snapshots', 'main', 'onnx', 'model.onnx')));
      assert.ok(!existsSync(path.join(cache, 'models--lens-test--bert-toy', 'refs', 'main')), 'no ref when the revision is its own commit');
      const offline = await resolveHubModel(hubSettings({ endpoint: plain.endpoint, cacheDir: cache, offline: true }, {}), parseHubSpec('hf:lens-test/bert-toy'));
      assert.equal(offline.modelPath, local.modelPath);
      await rejectsWith(resolveHubModel(hubSettings({ endpoint: plain.endpoint, cacheDir: cache }, {}), parseHubSpec('hf:lens-test/nothing-here')), 'hub-repo-not-found');
    } finally {
      await plain.close();
    }
  });

  it('a cache written by Python tools (made by hand here) opens with no network', async () => {
    const cache = tempFolder('al-hub-py-');
    const commit = 'a'.repeat(40);
    const repoDir = path.join(cache, 'models--someone--bert-toy');
    const snapshot = path.join(repoDir, 'snapshots', commit);
    mkdirSync(path.join(snapshot, 'onnx'), { recursive: true });
    mkdirSync(path.join(repoDir, 'blobs'));
    mkdirSync(path.join(repoDir, 'refs'));
    writeFileSync(path.join(repoDir, 'refs', 'main'), commit);
    writeFileSync(path.join(repoDir, 'blobs', sha256(BERT_TOY)), BERT_TOY);
    symlinkSync(`../../../blobs/${sha256(BERT_TOY)}`, path.join(snapshot, 'onnx', 'model_quantized.onnx'));
    writeFileSync(path.join(repoDir, 'blobs', 'f00d'), '{}');
    symlinkSync('../../blobs/f00d', path.join(snapshot, 'config.json'));
    const unreachable = await closedPort();
    const local = await resolveHubModel(hubSettings({ endpoint: unreachable, cacheDir: cache, offline: true }, {}), parseHubSpec('hf:someone/bert-toy'));
    assert.equal(local.modelFile, 'onnx/model_quantized.onnx');
    assert.equal(local.commit, commit);
    assert.deepEqual(readFileSync(local.modelPath), BERT_TOY);
    // By commit, too; and online with the server down, the cache answers (with the reason kept for a notice).
    const byCommit = await resolveHubModel(hubSettings({ endpoint: unreachable, cacheDir: cache, offline: true }, {}), parseHubSpec(`hf:someone/bert-toy@${commit}`));
    assert.equal(byCommit.modelPath, local.modelPath);
    const fallback = await resolveHubModel(hubSettings({ endpoint: unreachable, cacheDir: cache }, {}), parseHubSpec('hf:someone/bert-toy'));
    assert.equal(fallback.fallbackReason, 'ECONNREFUSED');
  });
});

describe('faults, each with a code and nothing half-written in the cache', () => {
  it('unknown repository, unknown revision: hub-repo-not-found', async () => {
    const cache = tempFolder('al-hub-');
    const error = await rejectsWith(resolve('hf:lens-test/no-such-model', cache), 'hub-repo-not-found', /not found/);
    assert.match(error.hint, /\{\{option:hfToken\}\}/, 'says a private repository needs a token');
    await rejectsWith(resolve('hf:lens-test/bert-toy@v9', cache), 'hub-repo-not-found', /revision v9/);
    assert.deepEqual(listTree(path.join(cache, 'models--lens-test--no-such-model', 'blobs')), []);
  });

  it('private and gated repositories: the message says to set a token; the token never appears in it', async () => {
    const cache = tempFolder('al-hub-');
    await rejectsWith(resolve('hf:lens-test/private', cache), 'hub-repo-not-found', /\{\{option:hfToken\}\}/);
    const gated = await rejectsWith(resolve('hf:lens-test/gated', cache), 'hub-unauthorized', /gated/);
    assert.equal(gated.facts.status, 401);
    assert.match(gated.hint, /Set a Hugging Face access token \(\{\{option:hfToken\}\}\)/);
    const wrong = await rejectsWith(resolve('hf:lens-test/gated', cache, { token: 'hf_wrongToken' }), 'hub-unauthorized', /refused the token/);
    assert.equal(wrong.facts.status, 403);
    assert.ok(!JSON.stringify({ m: wrong.message, h: wrong.hint, f: wrong.facts }).includes('hf_wrongToken'));
    const local = await resolve('hf:lens-test/private', cache, { token: TOKEN });
    assert.deepEqual(readFileSync(local.modelPath), BERT_TOY);
  });

  it('no ONNX file: lists what was found and what would work; an encoder without its decoder is named as such', async () => {
    const cache = tempFolder('al-hub-');
    const error = await rejectsWith(resolve('hf:lens-test/tokenizer-only', cache), 'hub-no-onnx', /found: config\.json, tokenizer\.json, tokenizer_config\.json/);
    assert.match(error.message, /looked for onnx\/model\.onnx, model\.onnx, onnx\/model_quantized\.onnx/);
    assert.match(error.hint, /transformers\.js repositories/);
    const split = await rejectsWith(resolve('hf:lens-test/t5-like', cache), 'hub-encoder-without-decoder', /holds an encoder \(onnx\/encoder_model\.onnx\) but no decoder_model\.onnx/);
    assert.match(split.message, /found: onnx\/decoder_model_merged_quantized\.onnx, onnx\/encoder_model\.onnx/);
  });

  it('server unreachable, and offline with nothing cached', async () => {
    const cache = tempFolder('al-hub-');
    const unreachable = await closedPort();
    await rejectsWith(resolveHubModel(hubSettings({ endpoint: unreachable, cacheDir: cache }, {}), parseHubSpec('hf:lens-test/bert-toy')), 'hub-unreachable', /ECONNREFUSED/);
    const before = server.requests.length;
    await rejectsWith(resolve('hf:lens-test/bert-toy', cache, { offline: true }), 'hub-offline-not-cached', /no snapshot of revision main/);
    assert.equal(server.requests.length, before);
    assert.deepEqual(listTree(cache), []);
  });

  it('a server error: hub-http-error with the status', async () => {
    const cache = tempFolder('al-hub-');
    server.fault('lens-test/bert-toy', 'config.json', { status: 500 });
    try {
      await rejectsWith(resolve('hf:lens-test/bert-toy', cache), 'hub-http-error', /HTTP 500 for config\.json/);
    } finally {
      server.fault('lens-test/bert-toy', 'config.json', undefined);
    }
  });

  it('a body cut short by a server that cannot resume: hub-truncated, nothing left', async () => {
    const cache = tempFolder('al-hub-');
    server.fault('lens-test/bert-toy', 'onnx/model.onnx', { truncateAt: 1000 });
    try {
      const error = await rejectsWith(resolve('hf:lens-test/bert-toy', cache), 'hub-truncated', /ended early/);
      assert.equal(error.facts.expected, BERT_TOY.length);
      assert.equal(error.facts.received, 1000);
    } finally {
      server.fault('lens-test/bert-toy', 'onnx/model.onnx', undefined);
    }
    const blobs = listTree(path.join(cache, 'models--lens-test--bert-toy', 'blobs'));
    assert.ok(!blobs.includes(sha256(BERT_TOY)) && !blobs.some((name) => name.endsWith('.incomplete')), blobs.join());
    assert.ok(!existsSync(path.join(cache, 'models--lens-test--bert-toy', 'snapshots')) || !listTree(path.join(cache, 'models--lens-test--bert-toy', 'snapshots')).includes('onnx/model.onnx'));
  });

  it('a dropped connection is resumed with a Range request', async () => {
    const cache = tempFolder('al-hub-');
    server.fault('lens-test/bert-toy', 'onnx/model.onnx', { dropOnceAt: 20_000 });
    const start = server.requests.length;
    try {
      const began = performance.now();
      const local = await resolve('hf:lens-test/bert-toy', cache);
      const download = local.downloads.find((each) => each.file === 'onnx/model.onnx');
      assert.equal(download?.requests, 2);
      assert.deepEqual(readFileSync(local.modelPath), BERT_TOY, 'the resumed file is whole and verified');
      const ranged = requestsSince(start).filter((request) => request.server === 'cdn' && request.headers.range);
      assert.deepEqual(ranged.map((request) => request.headers.range), ['bytes=20000-']);
      console.log(`  download with one drop and a resume: ${(performance.now() - began).toFixed(0)} ms`);
    } finally {
      server.fault('lens-test/bert-toy', 'onnx/model.onnx', undefined);
    }
  });

  it('a checksum that does not match: hub-checksum-mismatch, the bytes deleted', async () => {
    const cache = tempFolder('al-hub-');
    server.fault('lens-test/bert-toy', 'onnx/model.onnx', { wrongSha: true });
    try {
      const error = await rejectsWith(resolve('hf:lens-test/bert-toy', cache), 'hub-checksum-mismatch', /does not match its checksum/);
      assert.equal(error.facts.actual, sha256(BERT_TOY));
    } finally {
      server.fault('lens-test/bert-toy', 'onnx/model.onnx', undefined);
    }
    const blobs = listTree(path.join(cache, 'models--lens-test--bert-toy', 'blobs'));
    assert.ok(blobs.every((name) => !name.includes('.incomplete') && name !== sha256(BERT_TOY)), blobs.join());
  });

  it('a full disk: hub-disk-full before writing, with the sizes', async () => {
    const cache = tempFolder('al-hub-');
    const error = await rejectsWith(resolve('hf:lens-test/bert-toy', cache, {}, { freeBytes: async () => 1000 }), 'hub-disk-full', /is full/);
    assert.equal(error.facts.freeBytes, 1000);
    assert.ok(listTree(cache).every((file) => !file.includes('blobs/') || file.endsWith('.lock') === false), listTree(cache).join());
    assert.deepEqual(listTree(path.join(cache, 'models--lens-test--bert-toy', 'blobs')), []);
  });

  it('a cancelled download stops at once; its partial file is resumed by the next run', async () => {
    const cache = tempFolder('al-hub-');
    server.fault('lens-test/bert-toy', 'onnx/model.onnx', { throttle: 4096 });
    const controller = new AbortController();
    try {
      const running = resolve('hf:lens-test/bert-toy', cache, {}, {
        signal: controller.signal,
        onDownload: (progress) => {
          if (progress.file === 'onnx/model.onnx' && progress.bytes > 20_000) controller.abort();
        },
      });
      await assert.rejects(running, (error) => error instanceof CancelledError);
    } finally {
      server.fault('lens-test/bert-toy', 'onnx/model.onnx', undefined);
    }
    const blobs = listTree(path.join(cache, 'models--lens-test--bert-toy', 'blobs'));
    assert.ok(!blobs.includes(sha256(BERT_TOY)), 'no blob under its final name');
    assert.ok(blobs.some((name) => name.endsWith('.incomplete')), 'the partial file stays for a resume');
    const local = await resolve('hf:lens-test/bert-toy', cache);
    const download = local.downloads.find((each) => each.file === 'onnx/model.onnx');
    assert.ok(download && download.resumedFrom > 20_000, JSON.stringify(download));
    assert.deepEqual(readFileSync(local.modelPath), BERT_TOY);
  });
});

/** `npm run emulator`: the flags of the leak, failure and oversize knobs reach the emulator it starts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const CLI = fileURLToPath(new URL('../../../src/emulator/cli.ts', import.meta.url));

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminKey: string;
}

/** Starts the CLI and waits for its URL and the administrators' key; fails with its stderr if it exits. */
function startCli(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const adminKey = /Administrators\s+X-API-Key: (\S+)/.exec(out)?.[1];
      if (url && adminKey) resolve({ child, url, adminKey });
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => reject(new Error(`the emulator exited with ${String(code)}: ${err}`)));
  });
}

function stop(s: Started): Promise<void> {
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.kill('SIGTERM');
  });
}

/** Runs the CLI to completion (for --help and bad flags). */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** A raw call that keeps the body as it came on the wire (no decompression). */
function call(url: string, path: string, key: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

describe('emulator CLI', () => {
  test('--help lists every knob flag; bad values are refused', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--hide-stacktraces', '--failure-style', '--failing-card-ids', '--run-latency-ms', '--oversize-body-bytes', '--oversize-chunked', '--oversize-gzip']) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    const badStyle = await runCli(['--failure-style', 'teapot']);
    assert.equal(badStyle.code, 1);
    assert.match(badStyle.stderr, /--failure-style must be exception, json-message or proxy-502, received "teapot"/);
    const badIds = await runCli(['--failing-card-ids', '2,x']);
    assert.equal(badIds.code, 1);
    assert.match(badIds.stderr, /--failing-card-ids must be positive integers/);
  });

  test('the flags set the knobs', async () => {
    const [proxy, failing, oversize] = await Promise.all([
      startCli(['--failure-rate', '1', '--failure-style', 'proxy-502']),
      startCli(['--hide-stacktraces', '--failing-card-ids', '2,3']),
      startCli(['--oversize-body-bytes', '5000', '--oversize-chunked', '--oversize-gzip', '--run-latency-ms', '150']),
    ]);
    try {
      const bad = await call(proxy.url, '/api/card/1', proxy.adminKey);
      assert.equal(bad.status, 502);
      assert.match(bad.body.toString(), /502 Bad Gateway[\s\S]*metabase-0\.metabase\.internal:3000/);

      const rejected = await call(failing.url, '/api/card/2/query', failing.adminKey, 'POST');
      assert.equal(rejected.status, 400);
      const body = JSON.parse(rejected.body.toString()) as Record<string, unknown>;
      assert.match(String(body['error']), /^Not enough rights for object "PUBLIC\.PRODUCTS"; SQL statement:\nSELECT TITLE, PRICE FROM PRODUCTS/);
      assert.equal(body['via'], undefined, 'stack traces hidden');

      const t0 = performance.now();
      const big = await call(oversize.url, '/api/card/2/query', oversize.adminKey, 'POST', { 'accept-encoding': 'gzip' });
      assert.ok(performance.now() - t0 >= 140, 'run latency');
      assert.equal(big.status, 202);
      assert.equal(big.headers['content-encoding'], 'gzip');
      assert.equal(big.headers['content-length'], undefined, 'chunked');
      assert.equal(gunzipSync(big.body).length, 5000);
    } finally {
      await Promise.all([proxy, failing, oversize].map(stop));
    }
  });
});

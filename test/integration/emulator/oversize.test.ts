/**
 * Oversized answers (`knobs.oversizeBodyBytes`): exact sizes, valid JSON, content-length or chunked, gzip on the
 * fly, a 300 MB body streamed with backpressure in a few MB of memory, and writing that stops when the client
 * goes away. Sizes are checked on the wire with node:http, which neither buffers nor decompresses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { createGunzip } from 'node:zlib';
import { asRecord, credentialOf, emulator, raw, type Emulator } from '../../helpers/emulator.js';

const MiB = 1024 * 1024;

interface Streamed {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Bytes on the wire (compressed, when gzipped). */
  readonly bytes: number;
  /** The body, when `keep` was asked for. */
  readonly body?: Buffer;
  /** Bytes after gunzip, when the body came gzipped. */
  readonly decoded?: number;
  readonly decodedHead?: string;
}

/** One request on its own connection; counts the body without keeping it unless `keep`. */
function stream(
  e: Emulator,
  path: string,
  o: { key?: string; method?: string; headers?: Record<string, string>; keep?: boolean; onChunk?: (bytes: number, req: ClientRequest) => void } = {},
): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.key) headers['x-api-key'] = o.key;
    const req = httpRequest(`${e.url}${path}`, { method: o.method ?? 'GET', headers, agent: false }, (res) => {
      let bytes = 0;
      const kept: Buffer[] = [];
      let decoded: number | undefined;
      let decodedHead = '';
      let gunzipDone: Promise<void> = Promise.resolve();
      if (res.headers['content-encoding'] === 'gzip') {
        const gunzip = createGunzip();
        decoded = 0;
        gunzip.on('data', (c: Buffer) => {
          if (decodedHead.length < 32) decodedHead += c.subarray(0, 32).toString();
          decoded! += c.length;
        });
        gunzipDone = new Promise((r, j) => gunzip.on('end', r).on('error', j));
        res.pipe(gunzip);
      }
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (o.keep) kept.push(c);
        o.onChunk?.(bytes, req);
      });
      res.on('error', reject);
      res.on('end', () => {
        void gunzipDone.then(() => resolve({
          status: res.statusCode!, headers: res.headers, bytes,
          ...(o.keep ? { body: Buffer.concat(kept) } : {}), ...(decoded !== undefined ? { decoded, decodedHead } : {}),
        }), reject);
      });
    });
    req.on('error', reject);
    req.end(o.method === 'POST' ? '{}' : undefined);
  });
}

describe('emulator oversized answers', () => {
  let e: Emulator;
  let key: string;
  before(async () => {
    e = await emulator();
    key = credentialOf(e, 'Analysts').apiKey;
  });
  after(() => e.close());

  const reset = (): void => {
    Object.assign(e.knobs, { oversizeBodyBytes: 0, oversizeDeclareLength: true, oversizeGzip: false });
  };

  test('off by default; on, every authenticated call is a 200 (202 for runs) JSON body of exactly that size', async () => {
    assert.equal(e.knobs.oversizeBodyBytes, 0);
    assert.equal(e.knobs.oversizeDeclareLength, true);
    assert.equal(e.knobs.oversizeGzip, false);
    const size = 1_000_003;
    e.knobs.oversizeBodyBytes = size;
    try {
      e.requests.reset();
      for (const [method, path, status] of [
        ['GET', '/api/card/1', 200], ['GET', '/api/user/current', 200], ['GET', '/api/collection/999/items', 200],
        ['POST', '/api/card/2/query', 202], ['POST', '/api/dataset', 202],
      ] as const) {
        const res = await stream(e, path, { key, method, keep: true });
        assert.equal(res.status, status, `${method} ${path}`);
        assert.equal(res.headers['content-length'], String(size));
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.equal(res.bytes, size);
        const parsed = asRecord(JSON.parse(res.body!.toString('utf8')));
        const data = parsed['data'] as string[];
        assert.ok(Array.isArray(data) && data.length > 1 && data.every((x) => /^x*$/.test(x)), 'an array of strings');
      }
      const logged = e.requests.log.find((l) => l.route === 'GET /api/card/:id')!;
      assert.equal(logged.status, 200);
      assert.equal(logged.bytesSent, size);
      assert.equal(e.requests.aborted, 0);

      // Login, logout, health and unauthenticated calls are answered as usual.
      const unauthenticated = await raw(e, 'GET', '/api/card/1');
      assert.equal(unauthenticated.status, 401);
      assert.equal(unauthenticated.text, 'Unauthenticated');
      assert.deepEqual((await raw(e, 'GET', '/api/health')).json, { status: 'ok' });
      const c = credentialOf(e, 'Sales');
      const login = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
      assert.equal(login.status, 200);
      const session = String(asRecord(login.json)['id']);
      const viaSession = await stream(e, '/api/card/1', { headers: { 'x-metabase-session': session } });
      assert.equal(viaSession.bytes, size, 'a session is as good as a key');
      assert.equal((await raw(e, 'DELETE', '/api/session', { session })).status, 204);
    } finally {
      reset();
    }
    assert.equal((await raw(e, 'GET', '/api/card/1', { key })).status, 200);
    assert.equal(asRecord((await raw(e, 'GET', '/api/card/1', { key })).json)['id'], 1, 'back to normal');
  });

  test('chunked instead of content-length when oversizeDeclareLength is off', async () => {
    e.knobs.oversizeBodyBytes = 300_000;
    e.knobs.oversizeDeclareLength = false;
    try {
      const res = await stream(e, '/api/card/1', { key, keep: true });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      assert.equal(res.bytes, 300_000);
      assert.ok(Array.isArray(asRecord(JSON.parse(res.body!.toString('utf8')))['data']));
    } finally {
      reset();
    }
  });

  test('gzip on the fly, when on and the client accepts it: a small stream that expands to the full size', async () => {
    const size = 20 * MiB;
    e.knobs.oversizeBodyBytes = size;
    e.knobs.oversizeGzip = true;
    try {
      e.requests.reset();
      const gz = await stream(e, '/api/card/1', { key, headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(gz.headers['content-length'], String(gz.bytes), 'the declared length is the compressed length');
      assert.ok(gz.bytes < size / 100, `compressed to ${gz.bytes} bytes`);
      assert.equal(gz.decoded, size);
      assert.equal(gz.decodedHead!.slice(0, 12), '{"data":["xx');
      assert.equal(e.requests.log.at(-1)!.bytesSent, gz.bytes);

      e.knobs.oversizeDeclareLength = false;
      const chunked = await stream(e, '/api/dataset', { key, method: 'POST', headers: { 'accept-encoding': 'gzip, deflate' } });
      assert.equal(chunked.status, 202);
      assert.equal(chunked.headers['content-length'], undefined);
      assert.equal(chunked.headers['content-encoding'], 'gzip');
      assert.equal(chunked.decoded, size);

      const plain = await stream(e, '/api/card/1', { key });
      assert.equal(plain.headers['content-encoding'], undefined, 'no gzip unless the client accepts it');
      assert.equal(plain.bytes, size);
    } finally {
      reset();
    }
  });

  test('300 MB are streamed with backpressure: the process grows by a few MB at most', async () => {
    const size = 300 * MiB;
    e.knobs.oversizeBodyBytes = size;
    try {
      const used = (): number => {
        const m = process.memoryUsage();
        return m.heapUsed + m.external;
      };
      const baseline = used();
      let peak = baseline;
      let nextSample = 0;
      const res = await stream(e, '/api/card/1', {
        key,
        onChunk: (bytes) => {
          if (bytes < nextSample) return;
          nextSample = bytes + 4 * MiB;
          peak = Math.max(peak, used());
        },
      });
      assert.equal(res.headers['content-length'], String(size));
      assert.equal(res.bytes, size);
      // Emulator and client share this process, and most of the growth is the client's chunks awaiting garbage
      // collection (about 25 MB here); buffering the body anywhere would add 300 MB. The writes' backpressure
      // is checked by the next test.
      assert.ok(peak - baseline < 64 * MiB, `grew by ${((peak - baseline) / MiB).toFixed(1)} MB`);
    } finally {
      reset();
    }
  });

  test('writing stops as soon as the client goes away; the request is counted as aborted', async () => {
    const size = 300 * MiB;
    e.knobs.oversizeBodyBytes = size;
    try {
      e.requests.reset();
      await assert.rejects(stream(e, '/api/card/1', {
        key,
        onChunk: (bytes, req) => {
          if (bytes >= MiB) req.destroy(new Error('client gave up'));
        },
      }), /client gave up/);
      await e.requests.until(() => e.requests.aborted === 1 && e.requests.inFlight === 0);
      const logged = e.requests.log.find((l) => l.route === 'GET /api/card/:id')!;
      assert.equal(logged.aborted, true);
      const sent = logged.bytesSent!;
      assert.ok(sent >= MiB && sent < 32 * MiB, `sent ${(sent / MiB).toFixed(1)} MB of 300`);
      // A full round trip later nothing more was written, and the emulator serves on.
      assert.deepEqual((await raw(e, 'GET', '/api/health')).json, { status: 'ok' });
      assert.equal(logged.bytesSent, sent);
    } finally {
      reset();
    }
    e.requests.reset();
    assert.equal(e.requests.aborted, 0, 'reset() clears the aborted count');
  });
});

/**
 * What the emulator gives away, as Metabase does, so that the gateway's tests can prove none of it reaches a
 * client: exception bodies with stack traces unless `hideStacktraces` is set (API-CONTRACT.md §3), the other
 * failure styles (a JSON message naming the app database, a proxy's 502 page naming the upstream), failed runs
 * with `via` and `stacktrace` (§4.5), SQL errors that quote the statement as H2 does, and `failingCardIds`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LEAK_MARKERS } from '../../../src/emulator/server.js';
import { asRecord, emulator, groupKeys, raw, type Emulator, type RawResponse } from '../../helpers/emulator.js';

const leaksIn = (text: string): string[] => LEAK_MARKERS.filter((m) => text.includes(m));

describe('emulator leaks: stack traces, failure styles, SQL in errors', () => {
  let e: Emulator;
  let admin: string;
  let analyst: string;
  let sales: string;
  let allUsers: string;
  before(async () => {
    e = await emulator();
    ({ admin, analyst, sales, allUsers } = groupKeys(e));
  });
  after(() => e.close());

  const run = (key: string, path: string, body: unknown = {}): Promise<RawResponse> => raw(e, 'POST', path, { key, body });
  const sql = (key: string, query: string): Promise<RawResponse> => run(key, '/api/dataset', { database: 1, type: 'native', native: { query } });
  const nativeForm = (res: RawResponse): string => String(asRecord(asRecord(asRecord(res.json)['data'])['native_form'])['query']);

  /** Sets knobs for the length of `fn`, then puts the defaults back. */
  async function withKnobs(knobs: Partial<Emulator['knobs']>, fn: () => Promise<void>): Promise<void> {
    Object.assign(e.knobs, knobs);
    try {
      await fn();
    } finally {
      Object.assign(e.knobs, { failureRate: 0, hideStacktraces: false, failureStyle: 'exception', failingCardIds: [], queryFailureMode: 'http-status' });
    }
  }

  test('stack traces shown (the default): an injected 500 is Metabase\'s exception body, internals and all', async () => {
    assert.equal(e.knobs.hideStacktraces, false, 'Metabase shows stack traces unless told not to');
    assert.equal(e.knobs.failureStyle, 'exception');
    await withKnobs({ failureRate: 1 }, async () => {
      for (const [method, path] of [['GET', '/api/card/2'], ['GET', '/api/user/current'], ['POST', '/api/card/2/query']] as const) {
        const res = await raw(e, method, path, { key: analyst, ...(method === 'POST' ? { body: {} } : {}) });
        assert.equal(res.status, 500, path);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        const body = asRecord(res.json);
        assert.match(String(body['message']), /^org\.postgresql\.util\.PSQLException: .*\(user "mb_app", host 10\.2\.3\.4:5432\)$/);
        const via = body['via'] as Record<string, unknown>[];
        assert.ok(Array.isArray(via) && via.length >= 1, 'via lists the exception chain');
        for (const v of via) {
          assert.equal(typeof v['type'], 'string');
          assert.equal(typeof v['message'], 'string');
        }
        assert.match(JSON.stringify(via.find((v) => v['data'])?.['data']), /jdbc:postgresql:\/\/10\.2\.3\.4:5432\/.*user=mb_app/, 'data carries the JDBC URL');
        const trace = body['trace'] as string[];
        assert.ok(Array.isArray(trace) && trace.length >= 5);
        assert.equal(trace[0], 'metabase.driver.sql_jdbc.execute$execute_reducible_query.invokeStatic(execute.clj:512)');
        assert.ok(trace.every((f) => typeof f === 'string' && /\([A-Za-z_]+\.(clj|java):\d+\)$/.test(f)), 'Java and Clojure frames');
        for (const marker of ['mb_app', '10.2.3.4', 'PSQLException', 'clojure.lang.', '.clj:']) assert.ok(leaksIn(res.text).includes(marker), marker);
      }
      assert.deepEqual((await raw(e, 'GET', '/api/health')).json, { status: 'ok' }, 'health is never failed on purpose');
    });
  });

  test('stack traces hidden: the same failure is {"message":"Something went wrong"} and nothing else', async () => {
    await withKnobs({ failureRate: 1, hideStacktraces: true }, async () => {
      const res = await raw(e, 'GET', '/api/card/2', { key: analyst });
      assert.equal(res.status, 500);
      assert.equal(res.text, '{"message":"Something went wrong"}');
      assert.deepEqual(leaksIn(res.text), []);
    });
  });

  test('failure style json-message: a 500 whose only key is a message naming the app database\'s user and host', async () => {
    // Metabase passes such messages on as they are; hide-stacktraces does not touch them.
    for (const hideStacktraces of [false, true]) {
      await withKnobs({ failureRate: 1, failureStyle: 'json-message', hideStacktraces }, async () => {
        const res = await raw(e, 'GET', '/api/dashboard/1', { key: sales });
        assert.equal(res.status, 500);
        assert.deepEqual(Object.keys(asRecord(res.json)), ['message']);
        const message = String(asRecord(res.json)['message']);
        assert.match(message, /^org\.postgresql\.util\.PSQLException: /);
        assert.ok(message.includes('user "mb_app"') && message.includes('(10.2.3.4:5432'), message);
      });
    }
  });

  test('failure style proxy-502: nginx\'s HTML page naming the internal upstream, for reads and runs alike', async () => {
    await withKnobs({ failureRate: 1, failureStyle: 'proxy-502' }, async () => {
      for (const [method, path] of [['GET', '/api/card/2'], ['POST', '/api/card/2/query']] as const) {
        const res = await raw(e, method, path, { key: analyst, ...(method === 'POST' ? { body: {} } : {}) });
        assert.equal(res.status, 502, path);
        assert.equal(res.headers.get('content-type'), 'text/html');
        assert.equal(res.headers.get('x-metabase-version'), null, 'the proxy answered, not Metabase');
        assert.equal(res.json, undefined, 'not JSON');
        assert.match(res.text, /<title>502 Bad Gateway<\/title>/);
        assert.ok(res.text.includes(`upstream: "http://metabase-0.metabase.internal:3000${path}"`), res.text);
        assert.match(res.text, /nginx\/[0-9.]+/);
      }
    });
  });

  test('failed runs carry via and stacktrace unless stack traces are hidden; the error stays', async () => {
    const shown = await sql(admin, 'SELECT NOPE FROM PRODUCTS');
    assert.equal(shown.status, 400);
    const body = asRecord(shown.json);
    assert.equal(body['status'], 'failed');
    const via = body['via'] as Record<string, unknown>[];
    assert.ok(Array.isArray(via) && via.length >= 1);
    assert.equal(asRecord(via[0]!['data'])['sql'], 'SELECT NOPE FROM PRODUCTS', 'via names the statement');
    assert.ok(via.some((v) => String(v['type']).startsWith('org.h2.')), 'and the driver\'s exception');
    const stacktrace = body['stacktrace'] as string[];
    assert.ok(Array.isArray(stacktrace) && stacktrace.length >= 3 && stacktrace.every((f) => typeof f === 'string' && /\.clj:\d+\)$/.test(f)));
    const missing = asRecord((await run(analyst, '/api/card/11/query')).json);
    assert.equal(missing['error_type'], 'missing-required-parameter');
    assert.ok(Array.isArray(missing['via']) && Array.isArray(missing['stacktrace']), 'every failed run, not only SQL errors');

    await withKnobs({ hideStacktraces: true }, async () => {
      const hidden = await sql(admin, 'SELECT NOPE FROM PRODUCTS');
      assert.equal(hidden.status, 400);
      const h = asRecord(hidden.json);
      for (const key of ['via', 'stacktrace', 'trace']) assert.equal(key in h, false, key);
      assert.equal(h['error'], body['error'], 'the error itself is Metabase\'s, hidden or not');
      assert.equal(h['error_type'], 'invalid-query');
      assert.deepEqual(leaksIn(hidden.text), []);
    });
  });

  test('SQL errors quote the statement as Metabase\'s H2 driver does; error_type stays invalid-query', async () => {
    const cases: [string, string][] = [
      ['SELECT NOPE FROM PRODUCTS', 'Column "NOPE" not found; SQL statement:\nSELECT NOPE FROM PRODUCTS [42122-214]'],
      ['select nope from products', 'Column "NOPE" not found; SQL statement:\nselect nope from products [42122-214]'],
      ['SELECT ID FROM NO_SUCH_TABLE', 'Table "NO_SUCH_TABLE" not found; SQL statement:\nSELECT ID FROM NO_SUCH_TABLE [42102-214]'],
    ];
    for (const [query, error] of cases) {
      const res = await sql(admin, query);
      assert.equal(res.status, 400, query);
      assert.equal(asRecord(res.json)['error'], error);
      assert.equal(asRecord(res.json)['error_type'], 'invalid-query');
    }
    const syntax = asRecord((await sql(admin, 'SELECT FROM WHERE')).json);
    assert.match(String(syntax['error']), /^.+; SQL statement:\nSELECT FROM WHERE \[90000-214\]$/, 'any other SQLite error: message, statement, 90000');
    assert.equal(syntax['error_type'], 'invalid-query');
    await withKnobs({ queryFailureMode: 'legacy-202' }, async () => {
      const res = await sql(admin, 'SELECT NOPE FROM PRODUCTS');
      assert.equal(res.status, 202);
      assert.equal(asRecord(res.json)['error'], cases[0]![1]);
    });
  });

  test('failingCardIds: card and dashcard runs fail quoting the SQL the card would run; other runs are unaffected', async () => {
    // The SQL each card runs, from a successful run first.
    const native = nativeForm(await run(sales, '/api/card/2/query'));
    const compiled = nativeForm(await run(sales, '/api/card/3/query'));
    assert.equal(native, 'SELECT TITLE, PRICE FROM PRODUCTS WHERE CATEGORY = ? ORDER BY PRICE DESC');
    assert.match(compiled, /^SELECT .* FROM "PRODUCTS"/, 'a query-builder card: the compiled SQL');
    assert.deepEqual(e.knobs.failingCardIds, [], 'none by default');

    await withKnobs({ failingCardIds: [1, 2, 3] }, async () => {
      const cases: [string, string][] = [
        ['/api/card/2/query', native],
        ['/api/card/3/query', compiled],
        ['/api/dashboard/1/dashcard/22/card/2/query', native],
        ['/api/dashboard/1/dashcard/24/card/3/query', compiled],
      ];
      for (const [path, statement] of cases) {
        const res = await run(sales, path);
        assert.equal(res.status, 400, path);
        const body = asRecord(res.json);
        assert.equal(body['status'], 'failed');
        assert.equal(body['error_type'], 'invalid-query');
        assert.equal(body['error'], `Not enough rights for object "PUBLIC.PRODUCTS"; SQL statement:\n${statement} [90096-214]`, path);
        assert.equal(asRecord((body['via'] as Record<string, unknown>[])[0]!['data'])['sql'], statement, 'via too');
      }
      const series = await run(sales, '/api/dashboard/1/dashcard/24/card/14/query');
      assert.equal(series.status, 202, 'card 14 is not listed');
      assert.equal((await sql(admin, 'SELECT COUNT(*) FROM PRODUCTS')).status, 202, 'ad-hoc runs are unaffected');
      assert.equal((await raw(e, 'GET', '/api/card/2', { key: sales })).status, 200, 'reads are unaffected');

      const blocked = asRecord((await run(allUsers, '/api/card/1/query')).json);
      assert.equal(blocked['error_type'], 'missing-required-permissions', 'permissions are checked before the warehouse is asked');
      assert.doesNotMatch(JSON.stringify(blocked), /SQL statement|SELECT/);

      const needsParameter = asRecord((await run(sales, '/api/card/2/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'category']], value: 3 }] })).json);
      assert.equal(needsParameter['error_type'], 'invalid-parameter', 'and parameters');

      e.knobs.hideStacktraces = true;
      const hidden = asRecord((await run(sales, '/api/card/2/query')).json);
      assert.equal(hidden['error'], `Not enough rights for object "PUBLIC.PRODUCTS"; SQL statement:\n${native} [90096-214]`, 'the error quotes the SQL even with stack traces hidden');
      assert.equal(hidden['via'], undefined);
    });
    assert.equal((await run(sales, '/api/card/2/query')).status, 202, 'back to normal');
  });
});

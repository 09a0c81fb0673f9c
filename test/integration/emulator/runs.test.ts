/**
 * Query runs on the emulator (API-CONTRACT.md §4.4–§4.7, §5, §6): the result object (checked against
 * Metabase's own OpenAPI schema), parameters, row limits, permissions, both failure modes, and the
 * test knobs. The data is the real SQLite sample, so counts are real.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import Ajv2020 from 'ajv/dist/2020.js';
import { fieldByName } from '../../../src/emulator/sample-schema.js';
import { asRecord, credentialOf, emulator, groupKeys, raw, type Emulator } from '../../helpers/emulator.js';

const SCHEMAS = new URL('../../fixtures/metabase/openapi-split/components/schemas/', import.meta.url);
const schema = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(name, SCHEMAS), 'utf8')) as Record<string, unknown>;

/** The query-result schema, with the two `$ref` targets the fragments leave out filled from the contract. */
function resultValidator(): (v: unknown) => boolean {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  ajv.addSchema({ ...schema('metabase.query-processor.schema..result-metadata.column.json'), $id: 'metabase.query-processor.schema..result-metadata.column.json' });
  ajv.addSchema({ ...schema('metabase.query-processor.schema..query-result.data.json'), $id: 'metabase.query-processor.schema..query-result.data.json' });
  // Not copied into the fixtures; API-CONTRACT.md §4.5: every column has name, display_name and base_type.
  ajv.addSchema({ $id: 'metabase.legacy-mbql.schema.legacy-column-metadata.json', type: 'object', required: ['name', 'display_name', 'base_type'],
    properties: { name: { type: 'string' }, display_name: { type: 'string' }, base_type: { type: 'string' } } });
  ajv.addSchema({ $id: 'metabase.lib.schema.id.database.json', type: 'integer', minimum: 1 });
  const validate = ajv.compile({ ...schema('metabase.query-processor.schema.query-result.json'), $id: 'result' });
  return (v) => {
    const ok = validate(v) as boolean;
    if (!ok) console.error(validate.errors);
    return ok;
  };
}

describe('emulator query runs', () => {
  let e: Emulator;
  let admin: string;
  let analyst: string;
  let sales: string;
  let support: string;
  let allUsers: string;
  const valid = resultValidator();
  before(async () => {
    e = await emulator();
    ({ admin, analyst, sales, support, allUsers } = groupKeys(e));
  });
  after(() => e.close());

  const run = (key: string, path: string, body: unknown = {}) => raw(e, 'POST', path, { key, body });
  const sql = (key: string, query: string, extra: Record<string, unknown> = {}) =>
    run(key, '/api/dataset', { database: 1, type: 'native', native: { query, 'template-tags': extra['tags'] ?? {} }, parameters: extra['parameters'] ?? [] });
  const rows = (res: { json: unknown }): unknown[][] => asRecord(asRecord(res.json)['data'])['rows'] as unknown[][];

  test('a card run: 202, the §4.5 object valid against Metabase\'s schema, Connection: close', async () => {
    const res = await run(analyst, '/api/card/2/query', { parameters: [], ignore_cache: false });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('connection'), 'close');
    const body = asRecord(res.json);
    assert.ok(valid(body));
    assert.equal(body['status'], 'completed');
    assert.equal(body['context'], 'question');
    const data = asRecord(body['data']);
    assert.deepEqual((data['cols'] as Record<string, unknown>[]).map((c) => c['name']), ['TITLE', 'PRICE']);
    assert.equal(body['row_count'], (data['rows'] as unknown[]).length);
    assert.ok((data['rows'] as unknown[][]).length > 0, 'the default category Gizmo has products');
    assert.deepEqual(asRecord(data['native_form'])['params'], ['Gizmo'], 'the tag default is bound as a parameter');
    assert.match(String(asRecord(data['native_form'])['query']), /CATEGORY = \?/);
  });

  test('the sample has Metabase\'s confirmed row counts', async () => {
    const counts = rows(await sql(admin, 'SELECT (SELECT COUNT(*) FROM ORDERS), (SELECT COUNT(*) FROM PEOPLE), (SELECT COUNT(*) FROM PRODUCTS), (SELECT COUNT(*) FROM REVIEWS)'));
    assert.deepEqual(counts, [[18760, 2500, 200, 1112]]);
    const card = await run(analyst, '/api/card/1/query');
    assert.deepEqual(rows(card), [[18760]], '"Orders, Count" shows 18,760');
  });

  test('card parameters: by id with type and target filled in from the card; values bound, not spliced', async () => {
    const widget = await run(analyst, '/api/card/2/query', { parameters: [{ id: '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', value: 'Widget' }] });
    assert.equal(widget.status, 202);
    const widgetRows = rows(widget);
    const count = rows(await sql(admin, "SELECT COUNT(*) FROM PRODUCTS WHERE CATEGORY = 'Widget'"))[0]![0];
    assert.equal(widgetRows.length, count);
    for (const attack of ["Widget' OR '1'='1", "x'; DROP TABLE PRODUCTS; --", 'Widget" OR 1=1 --']) {
      const res = await run(analyst, '/api/card/2/query', { parameters: [{ type: 'category', target: ['variable', ['template-tag', 'category']], value: attack }] });
      assert.equal(res.status, 202, attack);
      assert.deepEqual(rows(res), [], `${attack} matches nothing`);
      assert.deepEqual(asRecord(asRecord(asRecord(res.json)['data'])['native_form'])['params'], [attack]);
    }
    assert.deepEqual(rows(await sql(admin, 'SELECT COUNT(*) FROM PRODUCTS')), [[200]], 'the table is still there');
  });

  test('optional clauses drop out without a value and apply with one; required tags without value fail', async () => {
    const all = rows(await run(sales, '/api/card/4/query'));
    const big = rows(await run(sales, '/api/card/4/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'min_total']], value: 120 }] }));
    assert.ok(big.length > 0 && big.length < all.length);
    assert.ok(big.every((r) => Number(r[3]) >= 120));
    const missing = await run(support, '/api/card/11/query');
    assert.equal(missing.status, 400);
    assert.equal(asRecord(missing.json)['error_type'], 'missing-required-parameter');
    assert.ok(valid(missing.json));
    const one = await run(support, '/api/card/11/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'product_id']], value: 7 }] });
    assert.equal(one.status, 202);
    const expected = rows(await sql(admin, 'SELECT COUNT(*) FROM REVIEWS WHERE PRODUCT_ID = 7'))[0]![0];
    assert.equal(rows(one).length, expected);
  });

  test('the card endpoint accepts template-tag parameters only, with the §5.2 type checks', async () => {
    const unknownTag = await run(analyst, '/api/card/2/query', { parameters: [{ type: 'category', target: ['variable', ['template-tag', 'colour']], value: 'x' }] });
    assert.equal(unknownTag.status, 400);
    assert.equal(asRecord(unknownTag.json)['error_type'], 'invalid-parameter');
    assert.equal(asRecord(unknownTag.json)['error'], 'Invalid parameter: Card 2 does not have a template tag named "colour".');
    const wrongType = await run(analyst, '/api/card/2/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'category']], value: 3 }] });
    assert.equal(wrongType.status, 400);
    assert.match(String(asRecord(wrongType.json)['error']), /^Invalid parameter type number\/= .*Parameter type must be one of: /);
    const structured = await run(analyst, '/api/card/3/query', { parameters: [{ type: 'category', target: ['dimension', ['template-tag', 'category']], value: 'Gizmo' }] });
    assert.equal(asRecord(structured.json)['error'], 'Invalid parameter: Card 3 does not have a template tag named "category".', 'a query-builder card has no template tags');
    const badValue = await run(support, '/api/card/11/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'product_id']], value: 'seven' }] });
    assert.equal(asRecord(badValue.json)['error_type'], 'invalid-parameter');
  });

  test('field filters: a value narrows, none becomes 1 = 1', async () => {
    const all = rows(await run(sales, '/api/card/5/query'));
    assert.ok(all.length > 5, 'every state');
    const states = [String(all[0]![0]), String(all[1]![0])];
    const two = rows(await run(sales, '/api/card/5/query', { parameters: [{ type: 'string/=', target: ['dimension', ['template-tag', 'state']], value: states }] }));
    assert.deepEqual(two.map((r) => r[0]).sort(), [...states].sort());
    assert.deepEqual(two, all.filter((r) => states.includes(String(r[0]))), 'the same counts as unfiltered');
  });

  test('row limits: 2,000 bare rows with rows_truncated; aggregations and explicit limits below it', async () => {
    const bare = await run(analyst, '/api/card/17/query');
    assert.equal(rows(bare).length, 2000);
    assert.equal(asRecord(asRecord(bare.json)['data'])['rows_truncated'], 2000);
    assert.equal(asRecord(bare.json)['row_count'], 2000);
    const nativeBig = await sql(admin, 'SELECT * FROM ORDERS');
    assert.equal(rows(nativeBig).length, 2000);
    const limited = await sql(admin, 'SELECT * FROM ORDERS LIMIT 10');
    assert.equal(rows(limited).length, 10);
    assert.equal(asRecord(asRecord(limited.json)['data'])['rows_truncated'], undefined);
    const aggregated = await run(admin, '/api/dataset', {
      database: 1, type: 'query', query: { 'source-table': 5, aggregation: [['count']], breakout: [['field', fieldByName('ORDERS', 'ID').id, null]] },
    });
    assert.equal(aggregated.status, 202, aggregated.text.slice(0, 200));
    assert.ok(rows(aggregated).length > 2000 && rows(aggregated).length <= 10000, `aggregated rows: ${rows(aggregated).length}`);
  });

  test('a number variable takes one number: a comma list cannot turn LIMIT n into LIMIT offset, n', async () => {
    const res = await run(analyst, '/api/card/16/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'top']], value: '3,2' }] });
    assert.equal(res.status, 400);
    assert.equal(asRecord(res.json)['error_type'], 'invalid-parameter');
    const three = await run(analyst, '/api/card/16/query', { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'top']], value: 3 }] });
    assert.equal(rows(three).length, 3);
  });

  test('integers beyond the JavaScript safe range come back as strings', async () => {
    const res = await sql(admin, 'SELECT 9007199254740993 AS BIG, 42 AS SMALL, -9007199254740993 AS NEG');
    assert.deepEqual(rows(res), [['9007199254740993', 42, '-9007199254740993']]);
  });

  test('dashboard runs: parameter ids through mappings, unmapped ignored, unknown ids 400', async () => {
    const path = '/api/dashboard/1/dashcard/22/card/2/query';
    const widget = await run(sales, path, { parameters: [{ id: '6f1c2d3e', value: ['Widget'] }, { id: 'b7e8f9a0', value: 'CA' }] });
    assert.equal(widget.status, 202, widget.text.slice(0, 300));
    assert.equal(asRecord(widget.json)['context'], 'dashboard');
    assert.deepEqual(asRecord(asRecord(asRecord(widget.json)['data'])['native_form'])['params'], ['Widget'], 'the State filter is not mapped to this card');
    for (const mode of ['http-status', 'legacy-202'] as const) {
      e.knobs.queryFailureMode = mode;
      const unknown = await run(sales, path, { parameters: [{ id: 'deadbeef', value: 'x' }] });
      assert.equal(unknown.status, 400, `${mode}: checked before the run starts`);
      assert.equal(unknown.text, 'Dashboard does not have a parameter with ID "deadbeef".');
      const wrongType = await run(sales, path, { parameters: [{ id: '6f1c2d3e', type: 'number/=', value: 3 }] });
      assert.equal(wrongType.status, 400);
      assert.match(wrongType.text, /^Invalid parameter type number\/= for parameter "category"/);
    }
    e.knobs.queryFailureMode = 'http-status';
    assert.equal((await run(sales, '/api/dashboard/1/dashcard/25/card/2/query')).status, 404, 'card is not the dashcard\'s');
    assert.equal((await run(sales, '/api/dashboard/2/dashcard/22/card/2/query')).status, 403, 'dashboard 2 is not readable by Sales');
    assert.equal((await run(sales, '/api/dashboard/1/dashcard/99/card/2/query')).status, 404);
  });

  test('dashboard filters reach query-builder cards and their series through field mappings', async () => {
    const all = rows(await run(sales, '/api/dashboard/1/dashcard/24/card/3/query'));
    assert.equal(all.length, 4, 'four categories');
    const gizmo = rows(await run(sales, '/api/dashboard/1/dashcard/24/card/3/query', { parameters: [{ id: '6f1c2d3e', value: ['Gizmo'] }] }));
    assert.deepEqual(gizmo.map((r) => r[0]), ['Gizmo']);
    const series = await run(sales, '/api/dashboard/1/dashcard/24/card/14/query', { parameters: [{ id: '6f1c2d3e', value: 'Widget' }] });
    assert.equal(series.status, 202);
    assert.deepEqual(rows(series), [], 'series card 14 is Gizmos only, so Widget matches nothing');
  });

  test('permissions: blocked data, ad-hoc without create-queries, native without native access', async () => {
    const blocked = await run(allUsers, '/api/card/1/query');
    assert.equal(blocked.status, 403);
    assert.equal(asRecord(blocked.json)['error_type'], 'missing-required-permissions');
    const noNative = await sql(sales, 'SELECT 1');
    assert.equal(noNative.status, 403);
    assert.equal(asRecord(noNative.json)['error_type'], 'missing-required-permissions');
    const mbqlBySales = await run(sales, '/api/dataset', { database: 1, type: 'query', query: { 'source-table': 8, aggregation: [['count']] } });
    assert.deepEqual(rows(mbqlBySales), [[200]], 'query-builder access is enough for MBQL');
    const noQueries = await run(support, '/api/dataset', { database: 1, type: 'query', query: { 'source-table': 8 } });
    assert.equal(noQueries.status, 403);
    assert.equal((await run(support, '/api/card/12/query')).status, 403, 'unreadable card');
    assert.equal((await run(support, '/api/card/404/query')).status, 404);
    for (const write of ['DELETE FROM ORDERS', 'INSERT INTO ORDERS (ID) VALUES (999999) RETURNING ID', 'UPDATE PRODUCTS SET PRICE = 0 RETURNING ID', 'PRAGMA query_only = OFF', 'DROP TABLE REVIEWS']) {
      const res = await sql(admin, write);
      assert.equal(res.status, 400, write);
      assert.equal(asRecord(res.json)['error_type'], 'invalid-query', write);
    }
    assert.deepEqual(rows(await sql(admin, 'SELECT (SELECT COUNT(*) FROM ORDERS), (SELECT MIN(PRICE) > 0 FROM PRODUCTS), (SELECT COUNT(*) FROM REVIEWS)')), [[18760, 1, 1112]], 'nothing changed');
  });

  test('ad-hoc queries in MBQL 5 and legacy shapes, with template tags', async () => {
    const mbql5 = await run(analyst, '/api/dataset', {
      'lib/type': 'mbql/query', database: 1,
      stages: [{ 'lib/type': 'mbql.stage/native', native: 'SELECT COUNT(*) AS N FROM ORDERS WHERE TOTAL > {{min}}',
        'template-tags': { min: { id: 'a1', name: 'min', 'display-name': 'Min', type: 'number' } } }],
      parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'min']], value: 100 }],
    });
    assert.equal(mbql5.status, 202, mbql5.text.slice(0, 300));
    const expected = rows(await sql(admin, 'SELECT COUNT(*) FROM ORDERS WHERE TOTAL > 100'))[0]![0];
    assert.deepEqual(rows(mbql5), [[expected]]);
    assert.equal(asRecord(mbql5.json)['context'], 'ad-hoc');
    const missingDb = await run(analyst, '/api/dataset', { type: 'native', native: { query: 'SELECT 1' } });
    assert.equal(missingDb.status, 400);
    assert.ok(asRecord(asRecord(missingDb.json)['errors'])['database']);
  });

  test('failure modes: http-status answers 4xx/5xx; legacy-202 answers 202; the body is the same', async () => {
    const failing = await sql(admin, 'SELECT NOPE FROM PRODUCTS');
    assert.equal(failing.status, 400);
    const body = asRecord(failing.json);
    assert.equal(body['status'], 'failed');
    assert.equal(body['error_type'], 'invalid-query');
    assert.match(String(body['error']), /NOPE/);
    assert.ok(valid(body));
    e.knobs.queryFailureMode = 'legacy-202';
    try {
      const legacy = await sql(admin, 'SELECT NOPE FROM PRODUCTS');
      assert.equal(legacy.status, 202);
      assert.equal(asRecord(legacy.json)['status'], 'failed');
      assert.equal(asRecord(legacy.json)['error'], body['error']);
    } finally {
      e.knobs.queryFailureMode = 'http-status';
    }
  });

  test('runs are gzipped when the client asks', async () => {
    const res = await fetch(`${e.url}/api/card/7/query`, {
      method: 'POST', headers: { 'x-api-key': analyst, 'content-type': 'application/json', 'accept-encoding': 'gzip' }, body: '{}',
    });
    // fetch decompresses by itself; the header says the wire was gzip.
    assert.equal(res.headers.get('content-encoding'), 'gzip');
    assert.equal(asRecord(await res.json())['row_count'], 200);
  });

  test('knobs: latency, failure rate, mid-stream abort, and the request counter', async () => {
    e.requests.reset();
    await run(analyst, '/api/card/2/query');
    await raw(e, 'GET', '/api/card/2', { key: analyst });
    await raw(e, 'GET', '/api/card/3', { key: analyst });
    assert.equal(e.requests.count('POST /api/card/:card-id/query'), 1);
    assert.equal(e.requests.count('GET /api/card/:id'), 2);
    assert.equal(e.requests.count(), 3);

    e.knobs.latencyMs = 150;
    const t0 = performance.now();
    await raw(e, 'GET', '/api/health');
    assert.ok(performance.now() - t0 >= 140, 'latency is added');
    e.knobs.latencyMs = 0;

    // The failure bodies themselves (stack traces shown or hidden, other styles) are in leaks.test.ts.
    e.knobs.failureRate = 1;
    e.knobs.hideStacktraces = true;
    const failed = await raw(e, 'GET', '/api/card/2', { key: analyst });
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.json, { message: 'Something went wrong' });
    assert.equal((await raw(e, 'GET', '/api/health')).status, 200, 'health is never failed on purpose');
    e.knobs.failureRate = 0;
    e.knobs.hideStacktraces = false;

    e.knobs.abortMidStream = true;
    try {
      const outcome = await new Promise<{ status?: number; error?: string; bytes: number }>((resolve) => {
        const req = httpRequest(`${e.url}/api/card/7/query`, { method: 'POST', headers: { 'x-api-key': analyst, 'content-type': 'application/json' } }, (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.on('error', (err) => resolve({ status: res.statusCode!, error: err.message, bytes }));
          res.on('end', () => resolve({ status: res.statusCode!, bytes }));
        });
        req.on('error', (err) => resolve({ error: err.message, bytes: 0 }));
        req.end('{}');
      });
      assert.equal(outcome.status, 202, 'the status line went out');
      assert.ok(outcome.error, 'then the connection was cut');
      assert.ok(outcome.bytes > 0);
    } finally {
      e.knobs.abortMidStream = false;
    }
    assert.equal((await run(analyst, '/api/card/2/query')).status, 202, 'the emulator still serves after a cut');
  });

  test('a runaway query is stopped at the time limit; the emulator keeps serving', async () => {
    const slow = await emulator({ queryTimeoutMs: 400 });
    try {
      const key = credentialOf(slow, 'Administrators').apiKey;
      const forever = raw(slow, 'POST', '/api/dataset', { key, body: { database: 1, type: 'native', native: { query: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c' } } });
      const health = await raw(slow, 'GET', '/api/health');
      assert.equal(health.status, 200, 'HTTP stays live while the query runs');
      const res = await forever;
      assert.equal(res.status, 500);
      assert.equal(asRecord(res.json)['error_type'], 'db');
      assert.match(String(asRecord(res.json)['error']), /longer than 400 ms/);
      const next = await raw(slow, 'POST', '/api/dataset', { key, body: { database: 1, type: 'native', native: { query: 'SELECT COUNT(*) FROM PRODUCTS' } } });
      assert.deepEqual(asRecord(asRecord(next.json)['data'])['rows'], [[200]], 'a fresh worker took over');
    } finally {
      await slow.close();
    }
  });
});

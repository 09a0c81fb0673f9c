/**
 * The emulator's error bodies (API-CONTRACT.md §3), paging (§4.14), request validation against the
 * query-parameter enums of Metabase's own OpenAPI fragments, and resilience to garbage input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { asRecord, credentialOf, emulator, raw, type Emulator } from '../../helpers/emulator.js';

const OPENAPI_PATHS = new URL('../../fixtures/metabase/openapi-split/paths/', import.meta.url);

/** Sends a request line fetch would refuse to send, and returns the status code. */
function rawTarget(e: Emulator, target: string): Promise<number> {
  const { hostname, port } = new URL(e.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

interface OpenApiParameter { name: string; in: string; schema?: Record<string, unknown> }

/** Enum values a query parameter accepts, from its OpenAPI schema (`enum`, or `items.enum` for arrays). */
function enumOf(schema: Record<string, unknown> | undefined): { values: string[]; array: boolean } | undefined {
  if (!schema) return undefined;
  for (const s of [schema, ...((schema['oneOf'] ?? schema['anyOf'] ?? []) as Record<string, unknown>[])]) {
    if (Array.isArray(s['enum'])) return { values: s['enum'] as string[], array: false };
    const items = s['items'] as Record<string, unknown> | undefined;
    if (items && Array.isArray(items['enum'])) return { values: items['enum'] as string[], array: true };
  }
  return undefined;
}

describe('emulator errors, validation and paging', () => {
  let e: Emulator;
  let key: string;
  let admin: string;
  before(async () => {
    e = await emulator();
    key = credentialOf(e, 'Analysts').apiKey;
    admin = credentialOf(e, 'Administrators').apiKey;
  });
  after(() => e.close());

  test('404 "Not found." and 403 "You don\'t have permissions to do that." are plain text', async () => {
    const missing = await raw(e, 'GET', '/api/card/9999', { key });
    assert.equal(missing.status, 404);
    assert.equal(missing.text, 'Not found.');
    assert.match(missing.headers.get('content-type') ?? '', /^text\/plain/);
    const restricted = await raw(e, 'GET', '/api/card/12', { key });
    assert.equal(restricted.status, 403);
    assert.equal(restricted.text, "You don't have permissions to do that.");
  });

  test('an unknown /api route is 404 "API endpoint does not exist."', async () => {
    const res = await raw(e, 'GET', '/api/no-such-thing', { key });
    assert.equal(res.status, 404);
    assert.equal(res.text, 'API endpoint does not exist.');
  });

  test('invalid parameters get the malli body: errors and specific-errors keyed by parameter', async () => {
    const cases: [string, string][] = [
      ['/api/card/1?legacy-mbql=maybe', 'legacy-mbql'],
      ['/api/card?f=everything', 'f'],
      ['/api/card?f=table', 'model_id'],
      ['/api/card/0', 'id'],
      ['/api/card/abc', 'id'],
      ['/api/collection?archived=yes', 'archived'],
      ['/api/collection/root/items?models=cards', 'models'],
      ['/api/search?models=card&models=dashboard&ids=1', 'ids'],
      ['/api/search?models=card,dashboard', 'models'],
    ];
    for (const [path, param] of cases) {
      const res = await raw(e, 'GET', path, { key });
      assert.equal(res.status, 400, path);
      const body = asRecord(res.json);
      assert.deepEqual(Object.keys(body).sort(), ['errors', 'specific-errors'], path);
      assert.equal(typeof asRecord(body['errors'])[param], 'string', path);
      assert.ok(Array.isArray(asRecord(body['specific-errors'])[param]), path);
    }
  });

  test('closed query maps reject unknown keys; open ones ignore them', async () => {
    const closed = await raw(e, 'GET', '/api/card/1?legacy_mbql=true', { key });
    assert.equal(closed.status, 400);
    assert.equal(asRecord(asRecord(closed.json)['errors'])['legacy_mbql'], 'disallowed key');
    assert.equal((await raw(e, 'GET', '/api/card?extra=1', { key })).status, 400);
    assert.equal((await raw(e, 'GET', '/api/dashboard/1?extra=1', { key })).status, 200);
  });

  test('closed request bodies reject unknown keys; malformed JSON and non-JSON bodies are 400', async () => {
    const unknown = await raw(e, 'POST', '/api/card/2/query', { key, body: { parameters: [], max_rows: 5 } });
    assert.equal(unknown.status, 400);
    assert.equal(asRecord(asRecord(unknown.json)['errors'])['max_rows'], 'disallowed key');
    const malformed = await raw(e, 'POST', '/api/card/2/query', { key, rawBody: '{"parameters": [', headers: { 'content-type': 'application/json' } });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.text, 'Malformed JSON in request body.');
    const wrongType = await raw(e, 'POST', '/api/card/2/query', { key, rawBody: 'parameters=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(wrongType.status, 400);
    const notAMap = await raw(e, 'POST', '/api/card/2/query', { key, body: [1, 2] });
    assert.equal(notAMap.status, 400);
    const badParams = await raw(e, 'POST', '/api/card/2/query', { key, body: { parameters: 'category=Widget' } });
    assert.equal(badParams.status, 400);
    assert.ok(asRecord(asRecord(badParams.json)['errors'])['parameters']);
    const dashcardNoId = await raw(e, 'POST', '/api/dashboard/1/dashcard/22/card/2/query', { key, body: { parameters: [{ value: 'Widget' }] } });
    assert.equal(dashcardNoId.status, 400);
    assert.match(String(asRecord(asRecord(dashcardNoId.json)['errors'])['parameters']), /'id' key/);
  });

  test('paging: limit/offset honoured on envelopes; bad numbers are 400 with a message', async () => {
    const all = asRecord((await raw(e, 'GET', '/api/collection/1/items', { key })).json);
    assert.equal(all['limit'], null);
    assert.equal(all['offset'], null);
    const total = Number(all['total']);
    assert.ok(total >= 4);
    const paged = asRecord((await raw(e, 'GET', '/api/collection/1/items?limit=2&offset=1', { key })).json);
    assert.equal(paged['total'], total, 'total counts every item, not the page');
    assert.equal((paged['data'] as unknown[]).length, 2);
    assert.deepEqual(paged['data'], (all['data'] as unknown[]).slice(1, 3));
    assert.equal(paged['limit'], 2);
    assert.equal(paged['offset'], 1);
    const onlyOffset = asRecord((await raw(e, 'GET', '/api/collection/1/items?offset=1', { key })).json);
    assert.equal(onlyOffset['limit'], 50, 'one of the two given: the other defaults');
    for (const bad of ['limit=ten', 'offset=-1', 'limit=1.5']) {
      const res = await raw(e, 'GET', `/api/collection/1/items?${bad}`, { key });
      assert.equal(res.status, 400, bad);
      assert.match(String(asRecord(res.json)['message']), /^Error parsing paging parameters: /, bad);
    }
    // Bare arrays ignore paging; the groups list honours it.
    const cards = (await raw(e, 'GET', '/api/card?limit=1', { key })).json as unknown[];
    assert.ok(cards.length > 1);
    const groups = (await raw(e, 'GET', '/api/permissions/group?limit=2&offset=1', { key: admin })).json as Record<string, unknown>[];
    assert.deepEqual(groups.map((g) => g['name']), ['Agents', 'All Users'], 'sorted by lower-cased name, then paged');
  });

  test('every enum query parameter of the OpenAPI fragments: listed values pass, others are 400', async () => {
    const paths: Record<string, string> = {
      'api_card.json': '/api/card', 'api_collection.json': '/api/collection', 'api_collection_tree.json': '/api/collection/tree',
      'api_collection_{id}_items.json': '/api/collection/1/items', 'api_dashboard.json': '/api/dashboard',
      'api_search.json': '/api/search', 'api_permissions_group.json': '/api/permissions/group',
    };
    let checked = 0;
    for (const file of readdirSync(OPENAPI_PATHS)) {
      const path = paths[file];
      if (!path) continue;
      const spec = JSON.parse(readFileSync(new URL(file, OPENAPI_PATHS), 'utf8')) as Record<string, { parameters?: OpenApiParameter[] }>;
      for (const p of spec['get']?.parameters ?? []) {
        const en = enumOf(p.schema);
        if (p.in !== 'query' || !en) continue;
        for (const value of en.values) {
          // `model_id` is required with some card filters, as Metabase requires it.
          const extra = path === '/api/card' && ['database', 'table', 'using_model', 'using_segment'].includes(value) ? '&model_id=1' : '';
          const res = await raw(e, 'GET', `${path}?${p.name}=${encodeURIComponent(value)}${extra}`, { key: admin });
          assert.notEqual(res.status, 400, `${path} ${p.name}=${value}: ${res.text.slice(0, 200)}`);
          checked++;
        }
        const bad = await raw(e, 'GET', `${path}?${p.name}=not-a-listed-value`, { key: admin });
        assert.equal(bad.status, 400, `${path} ${p.name}=not-a-listed-value`);
        checked++;
      }
    }
    assert.ok(checked > 40, `checked ${checked} values`);
  });

  test('boolean query parameters accept only true and false', async () => {
    for (const [path, name] of [['/api/collection/tree', 'shallow'], ['/api/database/1/metadata', 'skip_fields'], ['/api/search', 'archived']]) {
      assert.equal((await raw(e, 'GET', `${path}?${name}=true`, { key })).status, 200, `${path} ${name}=true`);
      assert.equal((await raw(e, 'GET', `${path}?${name}=1`, { key })).status, 400, `${path} ${name}=1`);
    }
  });

  test('garbage requests never crash the emulator', async () => {
    const garbage: [string, string, string | undefined][] = [
      ['POST', '/api/dataset', '{"database": 1, "type": "native", "native": {"query": 42}}'],
      ['POST', '/api/dataset', '{"database": "1"}'],
      ['POST', '/api/dataset', '{"database": 1, "type": "query", "query": {"source-table": "ORDERS"}}'],
      ['POST', '/api/dataset', '{"database": 1, "lib/type": "mbql/query", "stages": "nope"}'],
      ['POST', '/api/card/1/query', '{"parameters": [null, 1, "x"]}'],
      ['POST', '/api/card/2/query', '{"parameters": [{"target": ["variable"], "value": {"a": 1}}]}'],
      ['POST', '/api/dashboard/1/dashcard/22/card/2/query', '{"parameters": [{"id": "6f1c2d3e", "value": {"deep": [1, {"x": null}]}}]}'],
      ['GET', '/api/card/%E0%A4%A', undefined],
      ['GET', '/api/collection/%00/items', undefined],
      ['PUT', '/api/card/1', '{}'],
      ['POST', '/api/session', '"just a string"'],
    ];
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    garbage.push(
      ['POST', '/api/card/2/query', `{"ignore_cache": ${deep}}`],
      ['POST', '/api/dataset', `{"database": 1, "type": "native", "native": {"query": "SELECT 1"}, "extra": ${deep}}`],
      ['POST', '/api/card/2/query', '{"parameters": [{"name": "constructor", "value": "x"}]}'],
      ['POST', '/api/card/2/query', '{"parameters": [{"type": "category", "target": ["variable", ["template-tag", "__proto__"]], "value": "x"}]}'],
      ['POST', '/api/dataset', '{"database": 1, "type": "native", "native": {"query": "SELECT {{toString}}", "template-tags": {}}}'],
    );
    for (const [method, path, body] of garbage) {
      const res = await raw(e, method, path, { key: admin, ...(body !== undefined ? { rawBody: body, headers: { 'content-type': 'application/json' } } : {}) });
      assert.ok(res.status >= 200 && res.status < 500, `${method} ${path} ${body ?? ''} → ${res.status} ${res.text.slice(0, 120)}`);
    }
    const cookie = await raw(e, 'GET', '/api/user/current', { headers: { cookie: 'metabase.SESSION=%E0%A4%A' } });
    assert.equal(cookie.status, 401, 'a malformed cookie is no session');
    for (const target of ['//[', 'http://[']) {
      const status = await rawTarget(e, target);
      assert.ok(status >= 400 && status < 500, `request target ${target} → ${status}`);
    }
    assert.equal((await raw(e, 'GET', '/api/health')).status, 200);
  });
});

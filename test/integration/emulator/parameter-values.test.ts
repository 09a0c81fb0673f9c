/**
 * Parameter values (API-CONTRACT.md §4.15, §6): what a dashboard filter or a question's parameter may be set to,
 * read from the sample data, with Metabase's read checks, data permissions, search and chained filters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Database from 'better-sqlite3';
import { asRecord, credentialOf, emulator, groupKeys, raw, type Emulator } from '../../helpers/emulator.js';
import { createSampleDatabase } from '../../../src/emulator/sample-data.js';
import { fieldByName } from '../../../src/emulator/sample-schema.js';
import { escapeLike, fieldValuesStatement, parameterValues, type ValuesExecutor } from '../../../src/emulator/param-values.js';

const CATEGORIES = [['Doohickey'], ['Gadget'], ['Gizmo'], ['Widget']];
const D1_CATEGORY = '6f1c2d3e';
const D1_SINCE = 'a1b2c3d4';
const D1_STATE = 'b7e8f9a0';
const CARD5_STATE = '3f8a1d6c-2b4e-4c7a-8d9f-6a1b2c3d4e5f';
const CARD16_CATEGORY = '1b3d5f7a-9c0e-4a2b-8d4f-6a8c0e2b4d6f';
const CARD2_CATEGORY = '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12';

describe('emulator parameter values', () => {
  let e: Emulator;
  let sample: Database.Database;
  let keys: ReturnType<typeof groupKeys>;
  /** The same sample data the emulator serves (same default seed), read directly. */
  let direct: ValuesExecutor;
  let states: unknown[];
  before(async () => {
    e = await emulator();
    keys = groupKeys(e);
    sample = createSampleDatabase();
    direct = { execute: async (sql, params, limit) => ({ rows: (sample.prepare(sql).raw(true).all(...params) as unknown[][]).slice(0, limit) }) };
    states = (sample.prepare('SELECT DISTINCT STATE FROM PEOPLE WHERE STATE IS NOT NULL ORDER BY STATE').raw(true).all() as unknown[][]).map((r) => r[0]);
  });
  after(async () => {
    sample.close();
    await e.close();
  });

  const values = async (path: string, key = keys.analyst): Promise<{ values: unknown[][]; has_more_values: boolean }> => {
    const res = await raw(e, 'GET', path, { key });
    assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(Object.keys(asRecord(res.json)).sort(), ['has_more_values', 'values']);
    return res.json as { values: unknown[][]; has_more_values: boolean };
  };

  test('a dashboard filter mapped to PRODUCTS.CATEGORY through two cards: the four categories, once each', async () => {
    assert.deepEqual(await values(`/api/dashboard/1/params/${D1_CATEGORY}/values`), { values: CATEGORIES, has_more_values: false });
    // Dashboard 3 maps its own parameter to the same field.
    assert.deepEqual(await values('/api/dashboard/3/params/e0e0e0e1/values', keys.admin), { values: CATEGORIES, has_more_values: false });
  });

  test('a dashboard filter mapped through a card\'s field-filter tag: every distinct PEOPLE.STATE, sorted', async () => {
    const res = await values(`/api/dashboard/1/params/${D1_STATE}/values`);
    assert.ok(states.length > 5, 'the sample has states');
    assert.equal(res.values.length, states.length);
    assert.deepEqual(res.values, states.map((s) => [s]));
    assert.equal(res.has_more_values, false);
  });

  test('a filter behind variables only has no values', async () => {
    assert.deepEqual(await values(`/api/dashboard/1/params/${D1_SINCE}/values`), { values: [], has_more_values: false });
    assert.deepEqual(await values(`/api/dashboard/1/params/${D1_SINCE}/search/2026`), { values: [], has_more_values: false });
    assert.deepEqual(await values('/api/dashboard/2/params/c0ffee01/values', keys.support), { values: [], has_more_values: false });
  });

  test('search narrows case-insensitively, and LIKE wildcards in the query match literally', async () => {
    const search = (q: string): Promise<{ values: unknown[][] }> => values(`/api/dashboard/1/params/${D1_CATEGORY}/search/${encodeURIComponent(q)}`);
    assert.deepEqual((await search('giz')).values, [['Gizmo']]);
    assert.deepEqual((await search('GIZ')).values, [['Gizmo']]);
    assert.deepEqual((await search('dg')).values, [['Gadget'], ['Widget']]);
    assert.deepEqual((await search('%')).values, [], '% is not a wildcard');
    assert.deepEqual((await search('g%t')).values, [], 'unescaped, this would match Gadget and Widget');
    assert.deepEqual((await search('g_zmo')).values, [], 'unescaped, _ would match the i of Gizmo');
    assert.deepEqual((await search('nothing like it')).values, []);
    const state = (await values(`/api/dashboard/1/params/${D1_STATE}/search/a`)).values;
    assert.deepEqual(state, states.filter((s) => String(s).toLowerCase().includes('a')).map((s) => [s]));
    assert.ok(state.length > 0 && state.length < states.length);
    assert.equal(escapeLike('50%_off\\'), '50\\%\\_off\\\\');
  });

  test('card parameters: a field-filter tag has its field\'s values; a raw text tag has none', async () => {
    const card5 = await values(`/api/card/5/params/${CARD5_STATE}/values`);
    assert.deepEqual(card5, { values: states.map((s) => [s]), has_more_values: false });
    assert.deepEqual(await values(`/api/card/16/params/${CARD16_CATEGORY}/values`), { values: CATEGORIES, has_more_values: false });
    assert.deepEqual((await values(`/api/card/16/params/${CARD16_CATEGORY}/search/WID`)).values, [['Widget']]);
    assert.deepEqual(await values(`/api/card/2/params/${CARD2_CATEGORY}/values`), { values: [], has_more_values: false });
    assert.deepEqual(await values(`/api/card/2/params/${CARD2_CATEGORY}/search/giz`), { values: [], has_more_values: false });
    // The ids are the ones GET /api/card/:id lists as its parameters.
    const card = asRecord((await raw(e, 'GET', '/api/card/5', { key: keys.analyst })).json);
    assert.deepEqual((card['parameters'] as Record<string, unknown>[]).map((p) => p['id']), [CARD5_STATE]);
  });

  test('an unknown parameter key is a 400 with Metabase\'s plain-text message', async () => {
    for (const [path, message] of [
      ['/api/dashboard/1/params/nope/values', 'Dashboard does not have a parameter with the ID "nope"'],
      ['/api/dashboard/1/params/nope/search/giz', 'Dashboard does not have a parameter with the ID "nope"'],
      [`/api/dashboard/2/params/${D1_CATEGORY}/values`, `Dashboard does not have a parameter with the ID "${D1_CATEGORY}"`],
      ['/api/card/5/params/nope/values', 'Card does not have a parameter with the ID "nope"'],
      ['/api/card/5/params/nope/search/a', 'Card does not have a parameter with the ID "nope"'],
      ['/api/card/1/params/nope/values', 'Card does not have a parameter with the ID "nope"'],
    ] as const) {
      const res = await raw(e, 'GET', path, { key: keys.analyst });
      assert.equal(res.status, 400, path);
      assert.equal(res.text, message, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    }
  });

  test('a dashboard or card the caller cannot read answers as GET of it does: 403, or 404 when missing, before the key is looked at', async () => {
    const cases: [string, string, string][] = [
      [keys.support, '/api/dashboard/1', `/params/${D1_CATEGORY}/values`], // collection 2: no access
      [keys.analyst, '/api/dashboard/4', '/params/f1a2b3c4/values'], // Finance
      [keys.analyst, '/api/dashboard/999', `/params/${D1_CATEGORY}/values`],
      [keys.support, '/api/dashboard/1', '/params/nope/search/x'],
      [keys.support, '/api/card/5', `/params/${CARD5_STATE}/values`], // collection 3
      [keys.analyst, '/api/card/13', '/params/6d8f0a2c-4e5b-4c7d-9e1f-3a4b5c6d7e8f/values'], // Payroll
      [keys.analyst, '/api/card/999', '/params/x/values'],
      [keys.support, '/api/card/16', `/params/${CARD16_CATEGORY}/search/giz`],
    ];
    const statuses: number[] = [];
    for (const [key, object, rest] of cases) {
      const own = await raw(e, 'GET', object, { key });
      const res = await raw(e, 'GET', object + rest, { key });
      assert.equal(res.status, own.status, object + rest);
      assert.equal(res.text, own.text, object + rest);
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [403, 403, 404, 403, 403, 403, 404, 403]);
    assert.equal((await raw(e, 'GET', `/api/dashboard/x/params/${D1_CATEGORY}/values`, { key: keys.analyst })).status, 400, 'ids are positive integers');
  });

  test('values respect data permissions: blocked view-data is a 403, though the dashboard itself is readable', async () => {
    const dashboard = await raw(e, 'GET', '/api/dashboard/3', { key: keys.allUsers });
    assert.equal(dashboard.status, 200);
    const res = await raw(e, 'GET', '/api/dashboard/3/params/e0e0e0e1/values', { key: keys.allUsers });
    assert.equal(res.status, 403);
    assert.equal(res.text, "You don't have permissions to do that.");
    assert.equal((await raw(e, 'GET', '/api/dashboard/3/params/e0e0e0e1/search/giz', { key: keys.allUsers })).status, 403);
    assert.deepEqual(await values('/api/dashboard/3/params/e0e0e0e1/values', keys.agents), { values: CATEGORIES, has_more_values: false });
  });

  test('chained filters over HTTP: values of other filters on another table, of unknown keys and of the filter itself are ignored; too many are refused', async () => {
    const base = `/api/dashboard/1/params/${D1_CATEGORY}/values`;
    assert.deepEqual(await values(`${base}?${D1_STATE}=CA&${D1_STATE}=TX`), { values: CATEGORIES, has_more_values: false }, 'PEOPLE.STATE does not restrict PRODUCTS');
    assert.deepEqual(await values(`${base}?${D1_SINCE}=2026-01-01&unknown=1&${D1_CATEGORY}=Gizmo`), { values: CATEGORIES, has_more_values: false });
    const many = Array.from({ length: 101 }, (_, i) => `${D1_STATE}=S${i}`).join('&');
    const res = await raw(e, 'GET', `${base}?${many}`, { key: keys.analyst });
    assert.equal(res.status, 400);
    assert.equal(res.text, `Too many values for parameter "${D1_STATE}": at most 100 may be sent.`);
    const hundred = Array.from({ length: 100 }, (_, i) => `${D1_STATE}=S${i}`).join('&');
    assert.equal((await raw(e, 'GET', `${base}?${hundred}`, { key: keys.analyst })).status, 200);
  });

  // No dashboard or card of the emulator's content has two field filters on one table, so chaining on the same
  // table is checked on the values function itself, against the same sample data.
  test('chained filters on the same table narrow the values (values function, same sample data)', async () => {
    const vendor = fieldByName('PRODUCTS', 'VENDOR');
    const category = fieldByName('PRODUCTS', 'CATEGORY');
    const id = fieldByName('PRODUCTS', 'ID');
    const title = fieldByName('PRODUCTS', 'TITLE');
    const state = fieldByName('PEOPLE', 'STATE');
    const expected = (where: string, ...params: unknown[]): unknown[][] =>
      sample.prepare(`SELECT DISTINCT VENDOR FROM PRODUCTS WHERE VENDOR IS NOT NULL AND ${where} ORDER BY VENDOR`).raw(true).all(...params) as unknown[][];
    const all = await parameterValues(direct, [vendor]);
    const gizmo = await parameterValues(direct, [vendor], [{ fields: [category], values: ['Gizmo'] }]);
    assert.deepEqual(gizmo.values, expected('CATEGORY = ?', 'Gizmo'));
    assert.ok(gizmo.values.length > 0 && gizmo.values.length < all.values.length, `${gizmo.values.length} of ${all.values.length}`);
    const two = await parameterValues(direct, [vendor], [{ fields: [category], values: ['Gizmo', 'Widget'] }]);
    assert.deepEqual(two.values, expected('CATEGORY IN (?, ?)', 'Gizmo', 'Widget'));
    // Another table's constraint is ignored; a same-table one still applies.
    const mixed = await parameterValues(direct, [vendor], [{ fields: [state], values: ['CA'] }, { fields: [category], values: ['Gizmo'] }]);
    assert.deepEqual(mixed, gizmo);
    assert.deepEqual((await parameterValues(direct, [vendor], [{ fields: [state], values: ['CA'] }])).values, all.values);
    // Query-string values are compared as the column stores them: numbers for a numeric column.
    const titles = await parameterValues(direct, [title], [{ fields: [id], values: ['1', '2'] }]);
    assert.deepEqual(titles.values, sample.prepare('SELECT DISTINCT TITLE FROM PRODUCTS WHERE ID IN (1, 2) ORDER BY TITLE').raw(true).all());
    assert.equal(titles.values.length, 2);
    // Search and a chained filter together.
    const searched = await parameterValues(direct, [title], [{ fields: [category], values: ['Gizmo'] }], 'IRON');
    assert.deepEqual(searched.values, sample.prepare("SELECT DISTINCT TITLE FROM PRODUCTS WHERE CATEGORY = 'Gizmo' AND TITLE LIKE '%iron%' ORDER BY TITLE").raw(true).all());
    const ironAnywhere = await parameterValues(direct, [title], [], 'iron');
    assert.ok(searched.values.length > 0 && searched.values.length < ironAnywhere.values.length, `${searched.values.length} of ${ironAnywhere.values.length}`);
    const statement = fieldValuesStatement(vendor, [{ fields: [category], values: ['a', 'b'] }], 'x');
    assert.deepEqual(statement.params, ['a', 'b', '%x%']);
    assert.match(statement.sql, /LIMIT 1001$/);
  });

  test('more than 1,000 distinct values: the first 1,000, sorted, with has_more_values', async () => {
    const email = fieldByName('PEOPLE', 'EMAIL');
    const res = await parameterValues(direct, [email]);
    const first = (sample.prepare('SELECT DISTINCT EMAIL FROM PEOPLE WHERE EMAIL IS NOT NULL ORDER BY EMAIL LIMIT 1000').raw(true).all() as unknown[][]);
    assert.equal(res.values.length, 1000);
    assert.deepEqual(res.values, first);
    assert.equal(res.has_more_values, true);
    // Two fields merge: their distinct values once each, sorted, numbers first.
    const merged = await parameterValues(direct, [fieldByName('PRODUCTS', 'CATEGORY'), fieldByName('REVIEWS', 'RATING')]);
    assert.deepEqual(merged, { values: [[1], [2], [3], [4], [5], ...CATEGORIES], has_more_values: false });
  });

  test('authentication and the request counter: each route counted under its pattern; sessions work; no credential is a 401', async () => {
    e.requests.reset();
    await values(`/api/dashboard/1/params/${D1_CATEGORY}/values`);
    await values(`/api/dashboard/1/params/${D1_CATEGORY}/search/giz`);
    await values(`/api/card/5/params/${CARD5_STATE}/values`);
    await values(`/api/card/5/params/${CARD5_STATE}/search/a`);
    await values(`/api/card/5/params/${CARD5_STATE}/search/b`);
    const anonymous = await raw(e, 'GET', `/api/card/5/params/${CARD5_STATE}/values`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.text, 'Unauthenticated');
    assert.deepEqual(e.requests.snapshot(), {
      'GET /api/card/:id/params/:param-key/search/:query': 2,
      'GET /api/card/:id/params/:param-key/values': 2,
      'GET /api/dashboard/:id/params/:param-key/search/:query': 1,
      'GET /api/dashboard/:id/params/:param-key/values': 1,
    });
    const c = credentialOf(e, 'Sales');
    const login = await raw(e, 'POST', '/api/session', { body: { username: c.email, password: c.password } });
    const session = String(asRecord(login.json)['id']);
    const res = await raw(e, 'GET', `/api/dashboard/1/params/${D1_CATEGORY}/values`, { session });
    assert.equal(res.status, 200);
    assert.deepEqual(asRecord(res.json)['values'], CATEGORIES);
    assert.equal(e.requests.log.at(-1)!.user, c.email);
  });
});

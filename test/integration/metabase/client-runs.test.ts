/**
 * The Metabase client's query runs against the emulator, in both failure modes: results, parameters,
 * row limits, and each way a run fails turned into its gateway error with Metabase's message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetabaseClient } from '../../../src/metabase/client.js';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { groupClients, rejectsWith } from '../../helpers/metabase.js';

for (const mode of ['http-status', 'legacy-202'] as const) {
  describe(`Metabase client: runs (failed runs answered ${mode})`, () => {
    let e: Emulator;
    let admin: MetabaseClient;
    let analyst: MetabaseClient;
    let sales: MetabaseClient;
    let support: MetabaseClient;
    before(async () => {
      e = await emulator({ queryFailureMode: mode });
      ({ admin, analyst, sales, support } = groupClients(e));
    });
    after(async () => {
      await Promise.all([admin, analyst, sales, support].map((c) => c.close()));
      await e.close();
    });

    test('a card run: rows, columns, count, timing', async () => {
      const result = await analyst.runCard(2, { parameters: [{ id: '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', value: 'Widget' }] });
      assert.equal(result.status, 'completed');
      assert.deepEqual(result.columns.map((c) => [c.name, c.baseType]), [['TITLE', 'type/Text'], ['PRICE', 'type/Float']]);
      assert.equal(result.rowCount, result.rows.length);
      assert.ok(result.rows.length > 0);
      assert.equal(result.truncatedAt, null);
      assert.equal(result.cached, false);
      assert.equal(result.context, 'question');
      assert.ok(typeof result.runningTimeMs === 'number' && result.startedAt);
      const [count] = (await admin.runNative(1, "SELECT COUNT(*) FROM PRODUCTS WHERE CATEGORY = 'Widget'")).rows;
      assert.equal(result.rows.length, count![0]);
    });

    test('row limits: 2,000 bare rows marked truncated; aggregated counts exact', async () => {
      const bare = await analyst.runCard(17);
      assert.equal(bare.rows.length, 2000);
      assert.equal(bare.truncatedAt, 2000);
      assert.deepEqual((await analyst.runCard(1)).rows, [[18760]]);
    });

    test('a dashboard card run with the dashboard\'s filter values', async () => {
      const gizmo = await sales.runDashcard(1, 24, 3, { parameters: [{ id: '6f1c2d3e', value: ['Gizmo'] }] });
      assert.deepEqual(gizmo.rows.map((r) => r[0]), ['Gizmo']);
      assert.equal(gizmo.context, 'dashboard');
      const unmapped = await sales.runDashcard(1, 22, 2, { parameters: [{ id: 'b7e8f9a0', value: 'CA' }] });
      assert.ok(unmapped.rows.length > 0, 'a filter not mapped to this card is ignored');
      await rejectsWith(sales.runDashcard(1, 22, 2, { parameters: [{ id: 'nope', value: 1 }] }), 'BAD_USER_INPUT', { detail: /: Dashboard does not have a parameter with ID "nope"\.$/ });
      await rejectsWith(sales.runDashcard(1, 25, 2), 'NOT_FOUND');
      await rejectsWith(support.runDashcard(1, 22, 2), 'FORBIDDEN');
    });

    test('ad-hoc SQL: big integers as strings, parameters bound literally', async () => {
      const big = await admin.runNative(1, 'SELECT 9007199254740993 AS BIG');
      assert.deepEqual(big.rows, [['9007199254740993']]);
      const attack = "Gizmo' OR '1'='1";
      const res = await analyst.runNative(1, 'SELECT COUNT(*) AS N FROM PRODUCTS WHERE CATEGORY = {{c}}', {
        templateTags: { c: { id: 'c', name: 'c', 'display-name': 'C', type: 'text' } },
        parameters: [{ type: 'category', target: ['variable', ['template-tag', 'c']], value: attack }],
      });
      assert.deepEqual(res.rows, [[0]]);
    });

    test('failures: each error_type becomes its gateway code with a fixed message; Metabase\'s is the log-only detail', async () => {
      const invalidSql = await rejectsWith(admin.runNative(1, 'SELECT NOPE FROM PRODUCTS'), 'QUERY_FAILED', { message: /^The query failed in Metabase\.$/, detail: /NOPE/ });
      assert.equal(invalidSql.extensions['errorType'], 'invalid-query');
      const missing = await rejectsWith(support.runCard(11), 'BAD_USER_INPUT', { detail: /pick a value/ });
      assert.equal(missing.extensions['errorType'], 'missing-required-parameter');
      const badParam = await rejectsWith(analyst.runCard(2, { parameters: [{ type: 'category', target: ['variable', ['template-tag', 'nope']], value: 1 }] }), 'BAD_USER_INPUT', { detail: /does not have a template tag named "nope"/ });
      assert.equal(badParam.extensions['errorType'], 'invalid-parameter');
      const denied = await rejectsWith(sales.runNative(1, 'SELECT 1'), 'FORBIDDEN', { detail: /permissions to run this query/ });
      assert.equal(denied.extensions['errorType'], 'missing-required-permissions');
      await rejectsWith(support.runCard(12), 'FORBIDDEN');
      await rejectsWith(support.runCard(999), 'NOT_FOUND');
    });
  });
}

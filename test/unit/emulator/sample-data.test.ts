import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { createSampleDatabase } from '../../../src/emulator/sample-data.js';
import { SAMPLE_ROW_COUNTS, SAMPLE_TABLES } from '../../../src/emulator/sample-schema.js';

const db = createSampleDatabase();

const scalar = <T>(sql: string): T => db.prepare(sql).pluck().get() as T;

function fingerprint(d: Database.Database): string {
  const hash = createHash('sha256');
  for (const t of SAMPLE_TABLES) {
    hash.update(t.name);
    for (const row of d.prepare(`SELECT * FROM "${t.name}" ORDER BY "ID"`).raw().iterate()) {
      hash.update(JSON.stringify(row));
    }
  }
  return hash.digest('hex');
}

test('every table has exactly its row count', () => {
  for (const [table, count] of Object.entries(SAMPLE_ROW_COUNTS)) {
    assert.equal(scalar<number>(`SELECT COUNT(*) FROM "${table}"`), count, table);
  }
  assert.equal(Object.keys(SAMPLE_ROW_COUNTS).length, SAMPLE_TABLES.length);
});

test('columns match SAMPLE_TABLES in order', () => {
  for (const t of SAMPLE_TABLES) {
    const info = db.pragma(`table_info("${t.name}")`) as { name: string }[];
    assert.deepEqual(info.map((c) => c.name), t.columns.map((c) => c.name), t.name);
  }
});

test('the same seed gives the same data, another seed different data', () => {
  const again = createSampleDatabase();
  const other = createSampleDatabase({ seed: 7 });
  assert.equal(fingerprint(again), fingerprint(db));
  assert.notEqual(fingerprint(other), fingerprint(db));
  assert.equal(fingerprint(createSampleDatabase({ seed: 7 })), fingerprint(other));
});

test('orders use every product and about 929 buyers', () => {
  assert.equal(scalar<number>('SELECT COUNT(DISTINCT PRODUCT_ID) FROM ORDERS'), SAMPLE_ROW_COUNTS.PRODUCTS);
  const buyers = scalar<number>('SELECT COUNT(DISTINCT USER_ID) FROM ORDERS');
  assert.ok(buyers >= 800 && buyers <= 1100, `distinct buyers: ${buyers}`);
  assert.equal(scalar<number>('SELECT COUNT(*) FROM ORDERS WHERE USER_ID NOT IN (SELECT ID FROM PEOPLE)'), 0);
});

test('about 90% of discounts are null and the rest positive', () => {
  const share = scalar<number>('SELECT AVG(DISCOUNT IS NULL) FROM ORDERS');
  assert.ok(share >= 0.8 && share <= 0.95, `null share: ${share}`);
  assert.equal(scalar<number>('SELECT COUNT(*) FROM ORDERS WHERE DISCOUNT <= 0'), 0);
});

test('totals are positive and add up', () => {
  assert.equal(scalar<number>('SELECT COUNT(*) FROM ORDERS WHERE NOT (TOTAL > 0)'), 0);
  assert.equal(scalar<number>(
    'SELECT COUNT(*) FROM ORDERS WHERE ABS(TOTAL - (SUBTOTAL + TAX - COALESCE(DISCOUNT, 0))) > 0.005'), 0);
});

test('product categories are exactly the four', () => {
  const categories = db.prepare('SELECT DISTINCT CATEGORY FROM PRODUCTS ORDER BY 1').pluck().all();
  assert.deepEqual(categories, ['Doohickey', 'Gadget', 'Gizmo', 'Widget']);
});

test('people e-mails are unique and lowercase', () => {
  assert.equal(scalar<number>('SELECT COUNT(DISTINCT EMAIL) FROM PEOPLE'), SAMPLE_ROW_COUNTS.PEOPLE);
  assert.equal(scalar<number>('SELECT COUNT(*) FROM PEOPLE WHERE EMAIL <> LOWER(EMAIL)'), 0);
});

test('date-times are ISO-8601 UTC within the range', () => {
  const bad = scalar<number>(`SELECT COUNT(*) FROM ORDERS WHERE CREATED_AT NOT GLOB
    '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'
    OR CREATED_AT < '2022-04-30' OR CREATED_AT >= '2026-04-20'`);
  assert.equal(bad, 0);
  assert.equal(scalar<number>(`SELECT COUNT(*) FROM PEOPLE WHERE BIRTH_DATE NOT GLOB
    '19[6-9][0-9]-[0-1][0-9]-[0-3][0-9]' AND BIRTH_DATE NOT GLOB '200[0-5]-[0-1][0-9]-[0-3][0-9]'`), 0);
});

test('writes are refused', () => {
  for (const sql of [
    "INSERT INTO PRODUCTS (ID, TITLE) VALUES (999, 'x')",
    'UPDATE ORDERS SET TOTAL = 0',
    'DELETE FROM PEOPLE',
    'DROP TABLE REVIEWS',
  ]) {
    assert.throws(() => db.exec(sql), /readonly|read-only/i, sql);
  }
  assert.equal(scalar<number>('SELECT COUNT(*) FROM PEOPLE'), SAMPLE_ROW_COUNTS.PEOPLE);
  assert.equal(scalar<number>('SELECT COUNT(*) FROM ORDERS WHERE TOTAL = 0'), 0);
});

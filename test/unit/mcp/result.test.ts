/** Tool results within a byte budget: lists cut from the end, rows of a run first, the page's cursor moved to the last row kept. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitToBudget } from '../../../src/mcp/result.js';

const RUN_ID = '0b0e2a3c-1d4f-4a5b-8c6d-7e8f9a0b1c2d';
const rowsOf = (n: number, from = 0): unknown[][] => Array.from({ length: n }, (_, i) => [from + i + 1, `Product number ${from + i + 1}`, 12.5]);
const runResult = (n: number, startRow = 0) => ({
  question: { id: '7', run: { id: RUN_ID, rowCount: 500, rowPage: { rows: rowsOf(n, startRow), startRow, endCursor: 'x', hasNextPage: false } } },
});
const decode = (cursor: string): string => Buffer.from(cursor, 'base64url').toString('utf8');

test('a result within the budget is returned as it is', () => {
  const data = runResult(3);
  assert.deepEqual(fitToBudget(structuredClone(data), 10_000), { data, cut: null });
});

test('a run\'s rows are cut to fit, its page ends at the last row kept, and the note names the run', () => {
  const fitted = fitToBudget(runResult(200), 4_000)!;
  const page = fitted.data['question'] as { run: { rowPage: { rows: unknown[][]; endCursor: string; hasNextPage: boolean } } };
  const kept = page.run.rowPage.rows.length;
  assert.ok(kept > 0 && kept < 200);
  assert.ok(Buffer.byteLength(JSON.stringify({ ...fitted.data, cut: fitted.cut })) <= 4_000);
  assert.deepEqual(fitted.cut!.lists, [{ path: 'question.run.rowPage.rows', kept, of: 200 }]);
  assert.equal(fitted.cut!.runId, RUN_ID);
  assert.equal(decode(page.run.rowPage.endCursor), `r:${RUN_ID}:${kept - 1}`);
  assert.equal(page.run.rowPage.hasNextPage, true);
  assert.match(fitted.cut!.note, /AgentReadRun/);
});

test('a page that does not start at the first row keeps its place; a page cut to nothing points before its first row', () => {
  const fitted = fitToBudget(runResult(100, 300), 3_000)!;
  const rowPage = (fitted.data['question'] as { run: { rowPage: { rows: unknown[][]; endCursor: string } } }).run.rowPage;
  assert.equal(decode(rowPage.endCursor), `r:${RUN_ID}:${300 + rowPage.rows.length - 1}`);
  // Rows of 2,000 characters each: not one fits in 3,000 bytes with the note's room taken.
  const wide = runResult(5, 300);
  wide.question.run.rowPage.rows = wide.question.run.rowPage.rows.map((r) => [r[0], 'w'.repeat(2_000)]);
  const empty = fitToBudget(wide, 3_000)!;
  const emptyPage = (empty.data['question'] as { run: { rowPage: { rows: unknown[][]; endCursor: string } } }).run.rowPage;
  assert.equal(emptyPage.rows.length, 0);
  assert.equal(decode(emptyPage.endCursor), `r:${RUN_ID}:299`);
});

test('other lists are cut longest first, rows inside a list are never cut themselves, and nothing fits when one string alone is too large', () => {
  const data = { search: Array.from({ length: 300 }, (_, i) => ({ id: String(i), name: `Hit ${i}`, tags: ['a', 'b'] })), small: [1, 2, 3] };
  const fitted = fitToBudget(data, 3_000)!;
  assert.deepEqual(fitted.cut!.lists.map((l) => l.path), ['search']);
  assert.deepEqual(fitted.data['small'], [1, 2, 3]);
  assert.ok((fitted.data['search'] as { tags: string[] }[]).every((h) => h.tags.length === 2));
  assert.equal(fitted.cut!.runId, undefined);
  assert.match(fitted.cut!.note, /fewer items/);
  assert.equal(fitToBudget({ description: 'x'.repeat(10_000), list: [1] }, 3_000), null);
});

test('a cut run that was not kept (storedUntil: null) is not pointed at: the note says to ask for fewer rows', () => {
  const data = runResult(200);
  (data.question.run as Record<string, unknown>)['storedUntil'] = null;
  const fitted = fitToBudget(data, 4_000)!;
  assert.equal(fitted.cut!.runId, undefined);
  assert.match(fitted.cut!.note, /was not kept/);
  assert.doesNotMatch(fitted.cut!.note, /AgentReadRun/);
  assert.equal((fitted.data['question'] as { run: { rowPage: { endCursor: string } } }).run.rowPage.endCursor, 'x', 'its page is left as it was');
  const kept = runResult(200);
  (kept.question.run as Record<string, unknown>)['storedUntil'] = '2026-11-29T18:00:00.000Z';
  assert.equal(fitToBudget(kept, 4_000)!.cut!.runId, RUN_ID);
});

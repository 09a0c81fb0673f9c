import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveParameterValues } from '../../../src/graph/runs/parameters.js';
import type { Parameter } from '../../../src/metabase/types.js';

const p = (slug: string, type: string, extra: Partial<Parameter> = {}): Parameter =>
  ({ id: `id-${slug}`, name: slug, slug, type, target: null, required: false, default: null, ...extra });

test('values are checked against each parameter type', () => {
  const declared = [p('n', 'number/='), p('between', 'number/between'), p('d', 'date/single'), p('r', 'date/range'), p('b', 'boolean'), p('s', 'string/='), p('q', 'date/quarter-year')];
  const good = { n: [1, 2], between: [1, null], d: '2026-01-31', r: '2026-01-01~', b: false, s: ['a', 'b'], q: 'Q2-2026' };
  const resolved = resolveParameterValues(declared, Object.entries(good).map(([slug, value]) => ({ slug, value })), 'question 1');
  assert.equal(resolved.length, 7);
  const bad: Record<string, unknown> = { n: 'x', between: [1], d: '31/01/2026', r: '~', b: 'yes', s: 3, q: '2026-Q2' };
  for (const [slug, value] of Object.entries(bad)) {
    assert.throws(() => resolveParameterValues(declared, [{ slug, value }], 'question 1'), (err: Error & { code?: string }) => err.code === 'BAD_USER_INPUT' && err.message.includes(`"${slug}"`), slug);
  }
});

test('required parameters need a value unless they have a default; null applies no filter', () => {
  assert.throws(() => resolveParameterValues([p('id', 'id', { required: true })], [], 'question 1'), /is required/);
  assert.throws(() => resolveParameterValues([p('id', 'id', { required: true })], [{ slug: 'id', value: null }], 'question 1'), /is required/);
  assert.deepEqual(resolveParameterValues([p('id', 'id', { required: true, default: 3 })], [], 'question 1'), []);
  assert.equal(resolveParameterValues([p('s', 'category')], [{ slug: 's', value: null }], 'question 1')[0]!.value, null);
});

test('a parameter given twice, by id and slug, is refused', () => {
  assert.throws(() => resolveParameterValues([p('s', 'category')], [{ slug: 's', value: 'a' }, { id: 'id-s', value: 'b' }], 'question 1'), /given twice/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog } from '../../../src/audit/audit.js';
import { Trail } from '../../../src/audit/trail.js';

const sink = (lines: Record<string, unknown>[]) => new Writable({
  write(chunk: Buffer, _e, done) {
    for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
    done();
  },
});

function trailWithFields(): Trail {
  const t = new Trail('req-1');
  t.viewer = { subject: 'ana', email: null, groups: ['analysts'], clientKind: 'human' };
  t.role = 'analyst';
  t.operationName = 'Board';
  t.fields.push({ path: 'dashboard', parentType: 'Query', field: 'dashboard', outcome: 'ok' });
  t.fields.push({ path: 'dashboard.name', parentType: 'Dashboard', field: 'name', outcome: 'ok' });
  t.fields.push({ path: 'dashboard.secret', parentType: 'Dashboard', field: 'secret', outcome: 'denied', code: 'FORBIDDEN' });
  return t;
}

test('field format: one line per resolved field, each with the request, the viewer and the role, then the request line', () => {
  const lines: Record<string, unknown>[] = [];
  const audit = createAuditLog({ file: null, format: 'field', redactVariables: [], destination: sink(lines) });
  audit.write(trailWithFields(), { status: 200, responseBytes: 42 });
  assert.deepEqual(lines.map((l) => [l['event'], l['path'] ?? null]), [
    ['graphql.field', 'dashboard'], ['graphql.field', 'dashboard.name'], ['graphql.field', 'dashboard.secret'], ['graphql.request', null],
  ]);
  for (const l of lines.slice(0, 3)) {
    assert.equal(l['requestId'], 'req-1');
    assert.equal(l['role'], 'analyst');
    assert.deepEqual(l['viewer'], { subject: 'ana', email: null, groups: ['analysts'], clientKind: 'human' });
    assert.equal(l['operation'], 'Board');
  }
  assert.equal(lines[2]!['outcome'], 'denied');
  assert.equal(lines[3]!['fieldCount'], 3);
  assert.equal(lines[3]!['fields'], undefined);
});

test('levels by outcome: server errors at error, everything else at info', () => {
  const lines: Record<string, unknown>[] = [];
  const audit = createAuditLog({ file: null, format: 'operation', redactVariables: [], destination: sink(lines) });
  audit.write(new Trail('a'), { status: 200, responseBytes: 1 });
  audit.write(new Trail('b'), { status: 401, responseBytes: 1 });
  audit.write(new Trail('c'), { status: 502, responseBytes: 1 });
  assert.deepEqual(lines.map((l) => l['level']), [30, 30, 50]);
});

test('redaction: names containing a default word, configured names, and credential-shaped values, at any depth', () => {
  const audit = createAuditLog({ file: null, format: 'operation', redactVariables: ['ssn'], destination: sink([]) });
  assert.deepEqual(audit.redact({
    id: 1, Password: 'x', newPassword: 'y', accessToken: 't', sessionId: 's', ssnumber: 'kept: only the exact name ssn is configured',
    nested: { list: [{ SSN: '123', ok: true }], apiKey: 'mb_x', note: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', key: `mb_${'k'.repeat(20)}` },
  }).value, {
    id: 1, Password: '[redacted]', newPassword: '[redacted]', accessToken: '[redacted]', sessionId: '[redacted]', ssnumber: 'kept: only the exact name ssn is configured',
    nested: { list: [{ SSN: '[redacted]', ok: true }], apiKey: '[redacted]', note: '[redacted]', key: '[redacted]' },
  });
});

test('bounded copies: no recursion however deep, long strings cut, wide values capped, and the record says so', () => {
  const audit = createAuditLog({ file: null, format: 'operation', redactVariables: [], destination: sink([]) });
  let deep: unknown = 'bottom';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const copied = audit.redact({ deep, long: 'x'.repeat(100_000), wide: Array.from({ length: 10_000 }, (_, i) => i) });
  assert.equal(copied.truncated, true);
  const json = JSON.stringify(copied.value);
  assert.ok(json.length < 20_000, `bounded (${json.length} bytes)`);
  assert.ok(json.includes('[deeper]'), 'depth is cut, not walked');
  const lines: Record<string, unknown>[] = [];
  const log = createAuditLog({ file: null, format: 'operation', redactVariables: [], destination: sink(lines) });
  const t = new Trail('many', { fields: 3, calls: 2, runs: 1 });
  for (let i = 0; i < 10; i++) t.fields.push({ path: `f${i}`, parentType: 'Query', field: `f${i}`, outcome: 'ok' });
  for (let i = 0; i < 5; i++) t.calls.push({ method: 'GET', path: '/api/card', status: 200, ms: 1, scope: 's' });
  t.variables = copied.value;
  t.variablesTruncated = copied.truncated;
  log.write(t, { status: 200, responseBytes: 1 });
  assert.equal((lines[0]!['fields'] as unknown[]).length, 3);
  assert.equal((lines[0]!['metabase'] as unknown[]).length, 2);
  assert.deepEqual(lines[0]!['omitted'], { fields: 7, metabase: 3, variables: true });
});

test('the SQL of an ad-hoc run is kept up to 4,096 characters, and the record says it was cut', () => {
  const lines: Record<string, unknown>[] = [];
  const audit = createAuditLog({ file: null, format: 'operation', redactVariables: [], destination: sink(lines) });
  const t = new Trail('sql');
  t.runs.push({ questionId: null, dashboardId: null, dashboardCardId: null, databaseId: 1, sql: `SELECT ${'1, '.repeat(30_000)}1`, parameters: [], status: 'completed', rowCount: 1, truncated: false, cached: false, from: 'metabase', runId: '00000000-0000-4000-8000-000000000000' });
  audit.write(t, { status: 200, responseBytes: 1 });
  const sql = (lines[0]!['runs'] as { sql: string }[])[0]!.sql;
  assert.equal(sql.length, 4_097);
  assert.ok(sql.endsWith('…'));
  assert.deepEqual(lines[0]!['omitted'], { runParameters: true });
});

test('values of redacted variables are cut from the run parameters of the same record', () => {
  const lines: Record<string, unknown>[] = [];
  const audit = createAuditLog({ file: null, format: 'operation', redactVariables: ['customer'], destination: sink(lines) });
  const t = new Trail('r');
  t.rawVariables = { customer: { email: 'vip@example.test' }, state: 'TX' };
  t.runs.push({ questionId: 5, dashboardId: null, dashboardCardId: null, databaseId: null, parameters: [{ id: 'a', value: 'vip@example.test' }, { id: 'b', value: 'TX' }], status: 'completed', rowCount: 1, truncated: false, cached: false, from: 'metabase', runId: '00000000-0000-4000-8000-000000000000' });
  audit.write(t, { status: 200, responseBytes: 1 });
  assert.deepEqual((lines[0]!['runs'] as { parameters: unknown }[])[0]!.parameters, [{ id: 'a', value: '[redacted]' }, { id: 'b', value: 'TX' }]);
});

test('the file destination is asynchronous and close() flushes every record to disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audit-'));
  try {
    const file = join(dir, 'nested', 'audit.log');
    const audit = createAuditLog({ file, format: 'operation', redactVariables: [] });
    for (let i = 0; i < 1000; i++) audit.write(new Trail(`r${i}`), { status: 200, responseBytes: i });
    await audit.close();
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { requestId: string });
    assert.equal(lines.length, 1000);
    assert.deepEqual(lines.map((l) => l.requestId), Array.from({ length: 1000 }, (_, i) => `r${i}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * The audit trail end to end on the demo stack: the fields in each record are exactly the fields
 * resolved for the response (aliases, fragments, lists, nested runs, denials, upstream errors); the
 * Metabase calls and runs made for it; correlation headers as Metabase saw them; redaction; refused
 * requests; and a search of every log line the traffic produced for every secret it used.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Writable } from 'node:stream';
import { createAuditLog } from '../../../src/audit/audit.js';
import { loadConfig } from '../../../src/config/config.js';
import { demoSecrets, startDemo, type DemoStack, type DemoUser } from '../../../src/demo.js';
import { createLogger } from '../../../src/logging/logger.js';

interface Line { event?: string; [k: string]: unknown }
interface FieldLine { path: string; parentType: string; field: string; outcome: string; code?: string }
interface RecordLine extends Line {
  requestId: string; viewer: { subject: string; groups: string[]; clientKind: string } | null; role: string | null;
  operation: { name: string | null; type: string | null; documentHash: string | null; persistedId: string | null };
  variables?: Record<string, unknown>; status: number; fields?: FieldLine[]; fieldCount?: number;
  metabase: { method: string; path: string; status: number; ms: number; scope: string }[];
  runs: { questionId: number | null; dashboardId: number | null; dashboardCardId: number | null; rowCount: number; truncated: boolean; cached: boolean; parameters: unknown }[];
  refused?: { code: string; reason?: string }; durationMs: number; responseBytes: number;
}

/** Collects lines; `written` is told after each chunk, so tests wait on the lines themselves, never on a timer. */
const capture = (into: string[], written?: EventEmitter) => new Writable({
  write(chunk: Buffer, _e, done) {
    into.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    written?.emit('line');
    done();
  },
});

/** Every response path, with list indexes, not descending into JSON scalars (named by the caller). */
function responsePaths(value: unknown, jsonFields: ReadonlySet<string>, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => responsePaths(v, jsonFields, `${prefix}.${i}`));
  return Object.entries(value).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    return [path, ...(jsonFields.has(k) ? [] : responsePaths(v, jsonFields, path))];
  });
}

describe('the audit trail', () => {
  let stack: DemoStack;
  const auditLines: string[] = [];
  const logLines: string[] = [];
  const audited = new EventEmitter();
  before(async () => {
    stack = await startDemo(loadConfig({ PORT: '0', CACHE: 'off' }), {
      logger: createLogger({ level: 'debug', destination: capture(logLines) }),
      audit: createAuditLog({ file: null, format: 'operation', redactVariables: ['secretFilter'], destination: capture(auditLines, audited) }),
    });
  });
  after(() => stack.close());

  const records = (): RecordLine[] => auditLines.map((l) => JSON.parse(l) as RecordLine).filter((l) => l.event === 'graphql.request');
  /** Resolves once there are `count` records: a record is written when its request has settled, after the response. */
  async function recordsReach(count: number): Promise<void> {
    while (records().length < count) await once(audited, 'line', { signal: AbortSignal.timeout(10_000) });
  }
  async function send(user: DemoUser | null, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
    const before = records().length;
    const res = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(user ? { authorization: `Bearer ${stack.tokens[user]}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const text = await res.text();
    await recordsReach(before + 1);
    const record = records().at(-1)!;
    assert.equal(records().length, before + 1, 'one record per request');
    return { status: res.status, text, body: JSON.parse(text) as { data?: Record<string, unknown>; errors?: { path?: (string | number)[]; extensions: { code: string } }[] }, record, requestId: res.headers.get('x-request-id') };
  }

  const OPERATIONS: [string, DemoUser, string, Record<string, unknown>?][] = [
    ['aliases, fragments, lists and nested runs', 'analyst', `query Board { board: dashboard(id: 1) { title: name ...Cards } }
      fragment Cards on Dashboard { cards { id restricted question { name kind } run { rowCount truncated } } }`],
    ['denied fields and a denied root field', 'sales', '{ question(id: 4) { name nativeSql } hidden: question(id: 3) { name } viewer { role } }'],
    ['upstream errors: Metabase refuses, Metabase finds nothing', 'sales', '{ denied: dashboard(id: 2) { id } missing: question(id: 999) { id } databases { id name } }'],
    ['a connection with edges and page info', 'support', '{ questions(first: 3) { totalCount edges { cursor node { id name collection { id } } } pageInfo { hasNextPage } } }'],
    ['a mutation with variables', 'analyst', 'mutation Run($id: ID!) { runQuestion(id: $id, maxRows: 3) { rowCount columns { name } } }', { id: '4' }],
  ];

  for (const [name, user, query, variables] of OPERATIONS) {
    test(`complete: ${name}`, async () => {
      const { body, record } = await send(user, query, variables);
      const expected = responsePaths(body.data, new Set(['rows'])).sort();
      const recorded = record.fields!.map((f) => f.path).sort();
      assert.deepEqual(recorded, expected, 'the fields recorded are exactly the fields of the response');
      for (const err of body.errors ?? []) {
        const path = err.path!.join('.');
        const field = record.fields!.find((f) => f.path === path);
        assert.ok(field, `the errored field ${path} is recorded`);
        assert.equal(field.code, err.extensions.code, path);
        assert.equal(field.outcome, err.extensions.code === 'FORBIDDEN' ? 'denied' : 'error', path);
      }
      for (const f of record.fields!.filter((x) => !(body.errors ?? []).some((e) => e.path!.join('.') === x.path))) assert.equal(f.outcome, 'ok', f.path);
      assert.equal(record.role, user);
      assert.deepEqual(record.errors ?? [], (body.errors ?? []).map((e) => e.extensions.code));
    });
  }

  test('a record: who, what, the Metabase calls made for it (correlated), the runs, the totals', async () => {
    stack.emulator.requests.reset();
    const { record, text, requestId } = await send('analyst', 'query Board($id: ID!) { dashboard(id: $id) { name cards { run { rowCount } } } }', { id: '1' }, { 'x-request-id': 'audit-test-1' });
    assert.match(record.requestId, /^[0-9a-f-]{36}$/, 'the gateway\'s own id, which a caller cannot choose');
    assert.equal(record['clientRequestId'], 'audit-test-1', 'the caller\'s id is kept beside it');
    assert.equal(requestId, null, 'the gateway does not echo headers it was not asked to');
    assert.deepEqual(record.viewer, { subject: 'ana', email: 'ana@example.test', groups: ['analysts'], clientKind: 'human', issuer: 'default' });
    assert.equal(record.operation.name, 'Board');
    assert.equal(record.operation.type, 'query');
    assert.match(record.operation.documentHash!, /^[0-9a-f]{64}$/);
    assert.deepEqual(record.variables, { id: '1' });
    assert.equal(record.status, 200);
    assert.equal(record.responseBytes, Buffer.byteLength(text));
    assert.ok(record.durationMs > 0);
    const upstream = stack.emulator.requests.log;
    assert.equal(record.metabase.length, upstream.length, 'every call Metabase saw is in the record');
    assert.deepEqual(record.metabase.map((c) => `${c.method} ${c.status}`).sort(), upstream.map((l) => `${l.route.split(' ')[0]} ${l.status}`).sort());
    assert.ok(record.metabase.some((c) => c.method === 'GET' && c.path === '/api/dashboard/1' && c.status === 200));
    assert.ok(record.metabase.every((c) => c.scope === 'api-key|env:DEMO_METABASE_KEY_ANALYSTS' && c.ms >= 0));
    for (const l of upstream) {
      assert.equal(l.requestId, record.requestId, `${l.route} carries the request id`);
      assert.equal(l.gatewayUser, 'ana', `${l.route} carries the user`);
    }
    const runs = record.runs;
    assert.equal(runs.length, 5);
    assert.ok(runs.every((r) => r.dashboardId === 1 && r.questionId !== null && r.dashboardCardId !== null && r.rowCount >= 0 && typeof r.cached === 'boolean'));
  });

  test('variables on the redaction list are redacted; the login of a service account is a recorded call without its password', async () => {
    const { record } = await send('analyst', 'query Q($id: ID!, $secretFilter: [ParameterValueInput!]) { question(id: $id) { run(parameters: $secretFilter) { rowCount } } }',
      { id: '2', secretFilter: [{ slug: 'category', value: 'Gizmo' }] });
    assert.deepEqual(record.variables, { id: '2', secretFilter: '[redacted]' });
    assert.deepEqual(record.runs[0]!.parameters, [{ id: (record.runs[0]!.parameters as { id: string }[])[0]!.id, value: '[redacted]' }], 'a redacted variable\'s value is cut from the run parameters too');
    const plain = await send('analyst', 'query Q($id: ID!, $p: [ParameterValueInput!]) { question(id: $id) { run(parameters: $p) { rowCount } } }', { id: '2', p: [{ slug: 'category', value: 'Widget' }] });
    assert.equal((plain.record.runs[0]!.parameters as { value: string }[])[0]!.value, 'Widget', 'other values are recorded as Metabase was asked for them');
    const support = await send('support', '{ questions(first: 1) { totalCount } }');
    assert.ok(support.record.metabase.every((c) => c.scope.startsWith('login|sue@example.test|env:')));
  });

  test('a caller that goes away mid-request leaves a record (499); its Metabase call is cut, not left to run', async () => {
    const before = records().length;
    const mb = stack.emulator;
    mb.requests.reset();
    mb.knobs.latencyMs = 10_000;
    const controller = new AbortController();
    try {
      const sent = fetch(`${stack.gatewayUrl}/graphql`, {
        method: 'POST', signal: controller.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.tokens.analyst}` },
        body: JSON.stringify({ query: '{ dashboard(id: 1) { name } }' }),
      });
      // Metabase holds the call; then the caller leaves.
      await mb.requests.until(() => mb.requests.delayed === 1);
      controller.abort();
      await assert.rejects(sent);
      await mb.requests.until(() => mb.requests.aborted === 1 && mb.requests.inFlight === 0);
      await recordsReach(before + 1);
    } finally {
      mb.knobs.latencyMs = 0;
    }
    const record = records().at(-1)!;
    assert.equal(records().length, before + 1);
    assert.equal(record.status, 499);
    assert.equal(record['cut'], 'client-gone');
    assert.deepEqual(record.metabase.map((c) => [c.method, c.path, c.status]), [['GET', '/api/dashboard/1', 0]], 'the call made for it, cut when the caller left');
    assert.deepEqual(record.fields!.map((f) => [f.path, f.outcome, f.code]), [['dashboard', 'error', 'UPSTREAM_UNAVAILABLE']]);
  });

  test('refused requests are recorded with their code and reason', async () => {
    const { record, status } = await send(null, '{ viewer { role } }');
    assert.equal(status, 401);
    assert.deepEqual(record.refused, { code: 'UNAUTHENTICATED', reason: 'missing' });
    assert.equal(record.viewer, null);
    const escalation = await send('sales', '{ viewer { role } }', undefined, { 'x-gateway-role': 'analyst' });
    assert.equal(escalation.status, 403);
    assert.deepEqual(escalation.record.refused, { code: 'FORBIDDEN', reason: 'role-not-allowed' });
    assert.equal(escalation.record.viewer?.subject, 'sam', 'a verified caller refused a role is named');
    assert.equal(escalation.record['askedRole'], 'analyst');
    // Refused before GraphQL, after a valid token: a body that is not JSON, a content type the gateway does not take.
    for (const [contentType, body, status, reason] of [['application/json', '{"query": "{ viewer', 400, 'malformed-body'], ['application/xml', '<q/>', 415, 'media-type']] as const) {
      const before = records().length;
      const res = await fetch(`${stack.gatewayUrl}/graphql`, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${stack.tokens.sales}` }, body });
      assert.equal(res.status, status);
      await recordsReach(before + 1);
      const record = records().at(-1)!;
      assert.deepEqual(record.refused, { code: 'BAD_USER_INPUT', reason });
      assert.equal(record.viewer?.subject, 'sam', 'the caller is named');
      assert.equal(record.status, status);
    }
    const none = await send('contractor', '{ viewer { role } questions { totalCount } }');
    assert.equal(none.record.role, null);
    assert.deepEqual(none.record.fields!.map((f) => [f.path, f.outcome, f.code ?? null]).sort(), [['questions', 'denied', 'FORBIDDEN'], ['viewer', 'ok', null], ['viewer.role', 'ok', null]]);
  });

  test('request log lines carry the viewer and role', async () => {
    await send('sales', '{ viewer { role } }');
    const lines = logLines.map((l) => JSON.parse(l) as Line).filter((l) => l['msg'] === 'request completed');
    const last = lines.at(-1)!;
    assert.deepEqual(last['viewer'], { subject: 'sam', email: 'sam@example.test', groups: ['sales'], clientKind: 'human', issuer: 'default' });
    assert.equal(last['role'], 'sales');
  });

  // Last: it searches everything the tests above made the gateway log.
  test('no token, key, password or session id in any log or audit line', async () => {
    // Some traffic that carries secrets in odd places: a forged token, a token in a variable, cookies.
    await send('analyst', '{ viewer { role } }', undefined, { cookie: `metabase.SESSION=${stack.tokens.sales}` });
    const before = records().length;
    const res = await fetch(`${stack.gatewayUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.tokens.analyst}x` }, body: '{"query":"{ viewer { role } }"}' });
    assert.equal(res.status, 401);
    // Its record is the last line the gateway writes for it: once there, nothing more is coming.
    await recordsReach(before + 1);
    const everything = [...logLines, ...auditLines].join('\n');
    assert.ok(auditLines.length > 10 && logLines.length > 10, 'there is something to search');
    const secrets = [
      ...Object.values(stack.tokens).flatMap((t) => [t, t.split('.')[2]!]),
      ...Object.values(demoSecrets(stack.emulator)),
      ...stack.emulator.credentials.flatMap((c) => [c.apiKey, c.password]),
    ];
    const hits = secrets.filter((s) => everything.includes(s));
    assert.deepEqual(hits.map((h) => h.slice(0, 6)), [], 'no secret appears in any line');
  });
});

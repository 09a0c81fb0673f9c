/**
 * Vetted operations, by id, against the production process and tokens of the real OIDC test server:
 * the agent role (vettedOnly, limited to some operations) runs them and nothing else; a document from
 * it is refused before it is parsed, with no Metabase call; an analyst may send either form; a role in
 * log mode is let through and logged; an unknown id is refused. The manifest's ids are the SHA-256 of
 * the generated typed documents' text, so a client sends exactly what codegen gave it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { print } from 'graphql';
import { AgentDescribeQuestionDocument, AgentListDashboardsDocument, AgentReadRunDocument, AgentRunQuestionDocument, AgentSearchDocument } from '../../../schema/generated/graphql.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Emulator } from '../../helpers/emulator.js';
import { eventually } from '../../helpers/eventually.js';
import type { Idp } from '../../helpers/idp.js';
import { PRODUCTION_POLICY, startProductionStack, type Production, type ProductionStack } from '../../helpers/production.js';

const POLICY = PRODUCTION_POLICY
  .replace('    vettedOnly: true\n', '    vettedOnly: true\n    operations: [AgentSearch, AgentDescribeQuestion, AgentRunQuestion, AgentReadRun]\n')
  .replace('    collections: [root, { subtree: 2 }]\n', '    collections: [root, { subtree: 2 }]\n    vettedOnly: log\n');

const idOf = (doc: Parameters<typeof print>[0]): string => createHash('sha256').update(print(doc)).digest('hex');

interface Body { data?: Record<string, unknown> | null; errors?: { message: string; extensions: Record<string, unknown> }[] }

let mb: Emulator;
let idp: Idp;
let gw: Production;
let stack: ProductionStack;
let agent: string;
before(async () => {
  assert.match(POLICY, /operations: \[AgentSearch/);
  assert.match(POLICY, /vettedOnly: log/);
  stack = await startProductionStack({ policy: POLICY, env: { LOG_LEVEL: 'warn' }, auditFile: true });
  ({ mb, idp, gw } = stack);
  agent = await idp.agentToken();
});
after(() => stack.close());

const send = async (body: unknown, token: string): Promise<{ status: number; body: Body }> => {
  const res = await gw.post(body, token);
  return { status: res.status, body: JSON.parse(res.text) as Body };
};
const codeOf = (b: Body): unknown => b.errors?.[0]?.extensions['code'];

test('the agent runs vetted operations by documentId, by Apollo\'s persistedQuery hash, and pages a run', async () => {
  const found = await send({ documentId: `sha256:${idOf(AgentSearchDocument)}`, variables: { text: 'accounts', kinds: ['QUESTION'] } }, agent);
  assert.equal(found.status, 200, JSON.stringify(found.body));
  assert.equal(found.body.errors, undefined);
  assert.deepEqual((found.body.data!['search'] as { name: string }[]).map((r) => r.name), ['Accounts by plan']);

  const described = await send({ extensions: { persistedQuery: { version: 1, sha256Hash: idOf(AgentDescribeQuestionDocument) } }, variables: { id: '15' } }, agent);
  assert.equal(described.body.errors, undefined, JSON.stringify(described.body.errors));
  assert.equal((described.body.data!['question'] as { name: string }).name, 'Accounts by plan');

  // The audit record names the agent and the vetted operation's id.
  await eventually(async () => {
    const lines = (await readFile(join(gw.dir, 'audit.log'), 'utf8')).split('\n').slice(0, -1).map((l) => JSON.parse(l) as { viewer?: { clientKind: string }; role?: string; operation?: { name: string; persistedId: string } });
    const last = lines.at(-1);
    return last?.operation?.persistedId === idOf(AgentDescribeQuestionDocument) && last.operation.name === 'AgentDescribeQuestion' && last.role === 'agent' && last.viewer?.clientKind === 'agent';
  }, 'the audit record names the vetted operation by id, under the agent', { withinMs: 5_000, everyMs: 50 });

  const ran = await send({ documentId: idOf(AgentRunQuestionDocument), variables: { id: '15', first: 1 } }, agent);
  assert.equal(ran.body.errors, undefined, JSON.stringify(ran.body.errors));
  const run = (ran.body.data!['question'] as { run: { id: string; rowCount: number; rowPage: { rows: unknown[]; endCursor: string; hasNextPage: boolean } } }).run;
  assert.equal(run.rowPage.rows.length, 1);
  if (run.rowCount > 1) {
    const next = await send({ documentId: idOf(AgentReadRunDocument), variables: { id: run.id, first: 1, after: run.rowPage.endCursor } }, agent);
    assert.equal(next.body.errors, undefined, JSON.stringify(next.body.errors));
    assert.equal((next.body.data!['queryRun'] as { rowPage: { startRow: number } }).rowPage.startRow, 1);
  }
});

test('a document from the agent is refused before it is parsed, and nothing reaches Metabase', async () => {
  mb.requests.reset();
  for (const query of ['{ viewer { role } }', print(AgentSearchDocument), '{ not GraphQL at all']) {
    const res = await send({ query, variables: { text: 'x' } }, agent);
    assert.deepEqual([res.status, codeOf(res.body), res.body.errors?.[0]?.extensions['reason']], [400, 'PERSISTED_QUERY_REQUIRED', 'vetted-only'], query);
  }
  assert.equal(mb.requests.count(), 0);
});

test('operations outside the role\'s list, unknown ids and malformed ids are refused with their own codes', async () => {
  mb.requests.reset();
  const notAllowed = await send({ documentId: idOf(AgentListDashboardsDocument) }, agent);
  assert.deepEqual([notAllowed.status, codeOf(notAllowed.body), notAllowed.body.errors?.[0]?.extensions['operation']], [403, 'FORBIDDEN', 'AgentListDashboards']);
  const unknown = await send({ documentId: `sha256:${'0'.repeat(64)}` }, agent);
  assert.deepEqual([unknown.status, codeOf(unknown.body)], [400, 'PERSISTED_QUERY_NOT_FOUND']);
  const malformed = await send({ documentId: 'sha256:../../etc/passwd' }, agent);
  assert.deepEqual([malformed.status, codeOf(malformed.body)], [400, 'BAD_USER_INPUT']);
  const both = await send({ documentId: idOf(AgentSearchDocument), query: '{ viewer { role } }' }, agent);
  assert.deepEqual([both.status, codeOf(both.body)], [400, 'BAD_USER_INPUT']);
  assert.equal(mb.requests.count(), 0);
});

test('an analyst may send a document or a vetted id; a role in log mode is let through, and logged', async () => {
  const ana = await idp.userToken('ana', { groups: ['analysts'] });
  const byId = await send({ documentId: idOf(AgentSearchDocument), variables: { text: 'orders' } }, ana);
  assert.equal(byId.body.errors, undefined, JSON.stringify(byId.body.errors));
  assert.equal((await send({ query: '{ viewer { role } }' }, ana)).status, 200);

  const sam = await idp.userToken('sam', { groups: ['sales'] });
  const logged = await send({ query: '{ viewer { role } }' }, sam);
  assert.equal(logged.status, 200, 'log mode lets it through');
  await gw.entry.waitForOutput(/vetted-only\.would-refuse/, 5_000);
});

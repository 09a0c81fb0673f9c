/**
 * Upstream text never reaches a client. Whatever Metabase answers (a 500 with a Java stack trace, a
 * PostgreSQL message naming its database host, a proxy's HTML page, a failed run quoting the SQL of
 * a question the role may not read), the client gets the gateway's fixed message and code, and the
 * log gets Metabase's words with the request id. Nor does a URL's secret reach the log.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LEAK_MARKERS } from '../../../src/emulator/server.js';
import { useAuthzStack, type AuthzStack } from '../../helpers/authz.js';
import { groupKeys, type Emulator } from '../../helpers/emulator.js';

const POLICY = `
roles:
  - name: analyst
    match: { groups: [analysts] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
    canViewSql: true
  - name: sales
    match: { groups: [sales] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
`;

/** The SQL of question 4, which the sales role may run but not read. */
const CARD_4_SQL = 'FROM ORDERS WHERE CREATED_AT';

describe('nothing of Metabase\'s reaches a client', () => {
  const suite = useAuthzStack(POLICY, { env: (mb) => ({ ANALYSTS_KEY: groupKeys(mb).analyst, SALES_KEY: groupKeys(mb).sales }) });
  let mb: Emulator;
  let stack: AuthzStack;
  const tokens: Record<string, string> = {};

  before(async () => {
    ({ mb, stack } = suite);
    tokens['analyst'] = await suite.idp.userToken('ana', { groups: ['analysts'] });
    tokens['sales'] = await suite.idp.userToken('sam', { groups: ['sales'] });
  });

  const leaksIn = (text: string): string[] => [...LEAK_MARKERS, CARD_4_SQL, 'SQL statement', '/api/'].filter((m) => text.includes(m));
  /** The log lines of one request, by its id (every line of a request carries `reqId`). */
  const linesOf = (reqId: unknown) => stack.log.filter((l) => l['reqId'] === reqId);

  test('a failed run of a question whose SQL the role may not read: a fixed sentence and the error type; the SQL goes to the log', async () => {
    mb.knobs.failingCardIds = [4];
    try {
      const sales = await stack.post('{ question(id: 4) { run { status rowCount error { code message errorType } } } }', tokens['sales']);
      assert.equal(sales.status, 200);
      const run = (sales.body.data as { question: { run: { status: string; error: { code: string; message: string; errorType: string } } } }).question.run;
      assert.equal(run.status, 'FAILED');
      assert.equal(run.error.code, 'QUERY_FAILED');
      assert.equal(run.error.errorType, 'invalid-query');
      assert.match(run.error.message, /^The query failed in Metabase \(invalid-query\); its message is shown only to roles that may read SQL/);
      assert.deepEqual(leaksIn(sales.text), [], sales.text);
      const logged = stack.log.filter((l) => l.event === 'metabase.run-failed').at(-1)!;
      assert.match(String(logged['detail']), /SQL statement:\n.*FROM ORDERS WHERE CREATED_AT/s, 'Metabase\'s message, with the SQL, is in the log');
      assert.match(String(logged['reqId']), /^[0-9a-f-]{36}$/, 'with the request id');
      assert.equal(linesOf(logged['reqId']).find((l) => l.msg === 'request completed')?.['role'], 'sales', 'and the request\'s other lines');

      const analyst = await stack.post('{ question(id: 4) { run { status error { message errorType } } } }', tokens['analyst']);
      const message = (analyst.body.data as { question: { run: { error: { message: string } } } }).question.run.error.message;
      assert.match(message, /SQL statement:\n.*FROM ORDERS WHERE CREATED_AT/s, 'a role that may read SQL sees Metabase\'s message');
    } finally {
      mb.knobs.failingCardIds = [];
    }
  });

  for (const style of ['exception', 'json-message', 'proxy-502'] as const) {
    test(`Metabase failing with ${style}: the client gets UPSTREAM_UNAVAILABLE and a fixed message; the log gets Metabase's words and the request id`, async () => {
      mb.knobs.failureStyle = style;
      mb.knobs.failureRate = 1;
      try {
        const res = await stack.post('{ dashboards { totalCount } question(id: 2) { name } }', tokens['sales']);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.errors?.map((e) => [e.extensions.code, e.extensions['reason'], e.message]), [
          ['UPSTREAM_UNAVAILABLE', 'upstream-error', 'Metabase failed to answer.'],
          ['UPSTREAM_UNAVAILABLE', 'upstream-error', 'Metabase failed to answer.'],
        ]);
        assert.deepEqual(leaksIn(res.text), [], res.text);
        const errors = stack.log.filter((l) => l.event === 'graphql.error').slice(-2);
        assert.equal(errors.length, 2);
        for (const line of errors) {
          assert.equal(line.level, 50, 'at error');
          assert.match(String(line['reqId']), /^[0-9a-f-]{36}$/);
          assert.ok(leaksIn(String(line['detail'])).length > 0, `Metabase's words are in the log: ${String(line['detail']).slice(0, 200)}`);
        }
      } finally {
        mb.knobs.failureRate = 0;
        mb.knobs.failureStyle = 'exception';
      }
    });
  }

  test('a token or a password in the URL never reaches the request log: the path and the names of query parameters only', async () => {
    const token = tokens['analyst']!;
    const inUrl = await fetch(`${stack.url}?access_token=${token}&query=${encodeURIComponent('{ viewer { role } }')}`, { headers: { 'apollo-require-preflight': 'true' } });
    assert.equal(inUrl.status, 400, 'a token in the URL is refused, even without an Authorization header');
    const body = (await inUrl.json()) as { errors: { extensions: { code: string; reason: string } }[] };
    assert.deepEqual([body.errors[0]!.extensions.code, body.errors[0]!.extensions.reason], ['UNAUTHENTICATED', 'malformed']);
    const password = 'correct-horse-battery-staple';
    const query = encodeURIComponent('query($password: String) { viewer { role } }');
    const variables = encodeURIComponent(JSON.stringify({ password }));
    const get = await fetch(`${stack.url}?query=${query}&variables=${variables}`, { headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' } });
    assert.equal(get.status, 200);
    const everything = stack.rawLog.join('\n');
    assert.ok(!everything.includes(token.split('.')[2]!), 'no token in any log line');
    assert.ok(!everything.includes(password), 'no variable value in any log line');
    const line = stack.log.filter((l) => l.msg === 'request completed').at(-1)!;
    assert.equal(line['path'], '/graphql');
    assert.deepEqual(line['queryKeys'], ['query', 'variables']);
  });
});

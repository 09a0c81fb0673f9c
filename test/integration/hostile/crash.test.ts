/**
 * Nothing a caller sends can crash or freeze the gateway. Each case was once a crash, a freeze or a
 * flood of Metabase calls; each is now refused before any resolver runs, with a coded error naming
 * the limit, while the process keeps answering /healthz. The gateway runs in production mode in its
 * own process, so a crash shows as a dead child.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emulator, type Emulator } from '../../helpers/emulator.js';
import { startIdp, type Idp } from '../../helpers/idp.js';
import { startProduction, type Production } from '../../helpers/production.js';

interface Body { data?: unknown; errors?: { message: string; extensions: Record<string, unknown> }[] }

describe('hostile input against the production gateway', () => {
  let mb: Emulator;
  let idp: Idp;
  let gw: Production;
  const tokens: Record<string, string> = {};

  before(async () => {
    mb = await emulator();
    idp = await startIdp();
    gw = await startProduction({ emulator: mb, idp });
    tokens['analyst'] = await idp.userToken('ana', { groups: ['analysts'] });
    tokens['nobody'] = await idp.userToken('cora', { groups: ['contractors'] });
  });
  after(async () => {
    await gw.close();
    await idp.close();
    await mb.close();
  });

  /** Sends, checks the process still answers /healthz meanwhile and afterwards, and that Metabase saw nothing. */
  async function refused(body: unknown, token: string, expect: { status: number; code: string; limit?: string }): Promise<Body & { ms: number; bytes: number }> {
    mb.requests.reset();
    const sent = gw.post(body, token).then((r) => r, (err: unknown) => err as Error);
    assert.ok(await gw.healthy(), '/healthz answers while the request is served');
    const res = await sent;
    if (res instanceof Error) assert.fail(`no answer: ${res.message}`);
    assert.ok(gw.entry.child.exitCode === null && gw.entry.child.signalCode === null, `the process is alive (output: ${gw.entry.output().slice(-500)})`);
    assert.ok(await gw.healthy(), '/healthz answers afterwards');
    assert.equal(res.status, expect.status, res.text.slice(0, 300));
    const parsed = JSON.parse(res.text) as Body;
    assert.equal(parsed.errors?.[0]?.extensions['code'], expect.code, res.text.slice(0, 300));
    if (expect.limit) assert.equal(parsed.errors?.[0]?.extensions['limit'], expect.limit, res.text.slice(0, 300));
    assert.equal(mb.requests.count(), 0, `no Metabase call for a refused request: ${JSON.stringify(mb.requests.snapshot())}`);
    return { ...parsed, ms: res.ms, bytes: Buffer.byteLength(res.text) };
  }

  test('a JSON variable nested 3,000 deep, from a caller with no role: refused, the process lives', async () => {
    let value: unknown = 'x';
    for (let i = 0; i < 3_000; i++) value = [value];
    const query = 'query($v: JSON){ question(id: 2){ run(parameters:[{slug:"category",value:$v}]){ rowCount } } }';
    const res = await refused({ query, variables: { v: value } }, tokens['nobody']!, { status: 400, code: 'QUERY_TOO_COMPLEX', limit: 'variableDepth' });
    assert.ok(!JSON.stringify(res).includes('[[[[[[[['), 'the value is not echoed');
  });

  test('a collection fan-out 15 and 50 levels deep is refused before any resolver runs', async () => {
    for (const levels of [15, 50]) {
      let selection = 'id';
      for (let i = 0; i < levels; i++) selection = `children { parent { ${selection} } }`;
      const res = await refused({ query: `{ collection(id: "root") { ${selection} } }` }, tokens['analyst']!, { status: 400, code: 'QUERY_TOO_COMPLEX', limit: 'depth' });
      const ext = res.errors![0]!.extensions;
      assert.equal(typeof ext['max'], 'number');
      assert.ok((ext['measured'] as number) > (ext['max'] as number), JSON.stringify(ext));
    }
  });

  test('1,000 aliases of a run with different parameters, or of search, are refused with no Metabase call', async () => {
    const runs = Array.from({ length: 1_000 }, (_, i) => `r${i}: question(id: 2) { run(parameters: [{ slug: "category", value: "c${i}" }]) { rowCount } }`).join('\n');
    await refused({ query: `{ ${runs} }` }, tokens['analyst']!, { status: 400, code: 'QUERY_TOO_COMPLEX' });
    const searches = Array.from({ length: 1_000 }, (_, i) => `s${i}: search(text: "t${i}") { id }`).join('\n');
    await refused({ query: `{ ${searches} }` }, tokens['analyst']!, { status: 400, code: 'QUERY_TOO_COMPLEX' });
  });

  test('huge or wide variables objects are refused before validation, with a small answer that never echoes them', async () => {
    const query = 'query($id: ID!) { question(id: $id) { name } }';
    // 0.9 MB in 150 values: over the size limit, well within the count.
    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, 'v'.repeat(6_000)]));
    const big = await refused({ query, variables: { id: wide } }, tokens['analyst']!, { status: 400, code: 'QUERY_TOO_COMPLEX', limit: 'variableBytes' });
    assert.ok(big.bytes < 4_096, `a small answer (${big.bytes} bytes)`);
    const manyKeys = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]));
    const many = await refused({ query, variables: { id: '1', ...manyKeys } }, tokens['analyst']!, { status: 400, code: 'QUERY_TOO_COMPLEX', limit: 'variableValues' });
    assert.ok(many.bytes < 4_096, `a small answer (${many.bytes} bytes)`);
    const overBody = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]));
    const tooLarge = await refused({ query, variables: overBody }, tokens['analyst']!, { status: 413, code: 'BAD_USER_INPUT' });
    assert.ok(tooLarge.bytes < 4_096, `a small answer (${tooLarge.bytes} bytes)`);
  });

  test('errors about a variable name it and its type, never its value', async () => {
    const res = await gw.post({ query: 'query($id: ID!) { question(id: $id) { name } }', variables: { id: { secretish: 'do-not-echo-me' } } }, tokens['analyst']);
    assert.ok(!res.text.includes('do-not-echo-me'), res.text);
    const body = JSON.parse(res.text) as Body;
    assert.equal(body.errors?.[0]?.extensions['code'], 'BAD_USER_INPUT');
    assert.match(body.errors![0]!.message, /\$id/);
  });
});

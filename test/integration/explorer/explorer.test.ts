/**
 * The explorer in a real browser (Debian's headless Chromium, driven by playwright-core): signed in
 * through the real OIDC test issuer's login form (authorization code with PKCE), a dashboard's rows
 * as a table, a role switch that shows less, and the demo's users; no request leaves 127.0.0.1 and
 * the Content-Security-Policy reports no violation. Screenshots go to test/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, type DemoStack } from '../../helpers/gateway.js';
import type { Idp } from '../../helpers/idp.js';
import { PRODUCTION_CLAIMS, startProductionStack, type Production, type ProductionStack } from '../../helpers/production.js';

const ARTIFACTS = new URL('../../artifacts/', import.meta.url);
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const POLICY = `${PRODUCTION_CLAIMS}roles:
  - name: analyst
    match: { groups: [analysts], clientKinds: [human] }
    metabase: { apiKey: { env: ANALYSTS_KEY } }
    collections: all
  - name: sales
    match: { groups: [sales, analysts], clientKinds: [human] }
    metabase: { apiKey: { env: SALES_KEY } }
    collections: [root, { subtree: 2 }]
    canIntrospect: false
`;

let browser: Browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(() => browser.close());

interface Watched { page: Page; requests: { url: string; page: string }[]; violations: string[] }

/** A fresh page that records every request it makes and every CSP violation it reports. */
async function watchedPage(): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const requests: { url: string; page: string }[] = [];
  const violations: string[] = [];
  page.on('request', (r) => requests.push({ url: r.url(), page: r.frame().url() }));
  // The machine's network is closed anyway; a request away from it fails at once instead of waiting.
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  await page.exposeFunction('reportViolation', (v: string) => violations.push(v));
  // Runs in the page before its own scripts (the page's types are not this file's: plain text).
  await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (e) => window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));" });
  return { page, requests, violations };
}

/**
 * No request from the gateway's pages left 127.0.0.1, and the CSP held. (The test issuer's own login
 * page, oidc-provider's development form, asks for a web font: that request is the issuer's, made
 * from the issuer's page, and is checked to be the only kind away.)
 */
function assertStayedHome(w: Watched, gateway: string, issuer?: string): void {
  const away = w.requests.filter((r) => !/^(data:|blob:)/.test(r.url) && new URL(r.url).hostname !== '127.0.0.1');
  assert.deepEqual(away.filter((r) => !issuer || !r.page.startsWith(issuer)), [], 'no request from the gateway\'s pages left 127.0.0.1');
  assert.ok(w.requests.some((r) => r.page.startsWith(gateway) && r.url.includes('/graphiql/assets/graphiql.js')), 'the page was watched');
  assert.deepEqual(w.violations, [], 'the Content-Security-Policy reported no violation');
}

/** Opens a tab by name, runs it, and returns the rows the rows view shows, table by table. */
async function runTab(page: Page, tab: string): Promise<number[]> {
  const show = page.getByRole('button', { name: 'Show Rows as a table' });
  if (await show.count()) await show.click();
  const view = page.locator('[data-results]');
  const before = Number(await view.getAttribute('data-results'));
  await page.locator('.graphiql-tab', { hasText: tab }).first().click();
  await page.getByRole('button', { name: /Execute query/ }).click();
  await page.locator(`[data-results="${before + 1}"]`).waitFor();
  const tables = page.locator('table.rows');
  return Promise.all((await tables.all()).map((t) => t.locator('tbody tr').count()));
}

describe('signed in through the identity provider', () => {
  let stack: ProductionStack;
  let idp: Idp;
  let gw: Production;
  before(async () => {
    stack = await startProductionStack({
      policy: POLICY, env: { EXPLORER_CLIENT_ID: 'explorer', EXPLORER_SCOPE: 'openid metabase:read' },
      beforeGateway: (issuer) => issuer.setClaims('ana', { groups: ['analysts'], email: 'ana@example.test' }),
    });
    ({ idp, gw } = stack);
    assert.equal(idp.explorerClientId, 'explorer');
  });
  after(() => stack.close());

  test('the page and its files come with a strict Content-Security-Policy, and the sign-in is the issuer\'s', async () => {
    const page = await fetch(`${gw.base}/graphiql`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-eval/);
    assert.match(csp, new RegExp(`connect-src 'self' ${idp.issuer.replace(/[.:/]/g, '\\$&')}`), 'connections: this origin and the issuer only');
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.doesNotMatch(await page.text(), /<script>|https?:\/\//, 'no inline script, no absolute URL');
    const config = (await (await fetch(`${gw.base}/graphiql/config.json`)).json()) as { signIn: Record<string, unknown>; demoUsers: unknown; tabs: { name: string }[] };
    assert.deepEqual({ ...config.signIn, authorizationEndpoint: undefined, tokenEndpoint: undefined },
      { issuer: idp.issuer, clientId: idp.explorerClientId, scope: 'openid metabase:read', resource: 'https://gateway.test', authorizationEndpoint: undefined, tokenEndpoint: undefined });
    assert.ok(String(config.signIn['authorizationEndpoint']).startsWith(idp.issuer));
    assert.ok(String(config.signIn['tokenEndpoint']).startsWith(idp.issuer));
    assert.equal(config.demoUsers, null, 'no demo users outside the demo');
    assert.ok(config.tabs.some((t) => t.name === 'AgentRunQuestion'), 'the vetted operations are offered as tabs');
    assert.equal((await fetch(`${gw.base}/graphiql/assets/secret.js`)).status, 404);

    // Assets are compressed for clients that accept it, and revalidated by their hash.
    const script = await fetch(`${gw.base}/graphiql/assets/graphiql.js`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(script.headers.get('content-encoding'), 'br');
    const etag = script.headers.get('etag')!;
    assert.match(etag, /^"[\w-]{43}"$/);
    assert.match(await script.text(), /GraphiQL/, 'it decodes to the script');
    assert.equal((await fetch(`${gw.base}/graphiql/assets/graphiql.js`, { headers: { 'accept-encoding': 'gzip' } })).headers.get('content-encoding'), 'gzip');
    const again = await fetch(`${gw.base}/graphiql/assets/graphiql.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  test('sign in with the login form, see a dashboard\'s rows as a table, switch role and see fewer', async () => {
    const w = await watchedPage();
    const { page } = w;
    await page.goto(`${gw.base}/graphiql`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The issuer's own login and consent pages (oidc-provider's), on its own origin.
    await page.locator('input[name="login"]').fill('ana');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]', { hasText: /continue/i }).click();
    await page.getByTestId('who').getByText('ana@example.test').waitFor();
    assert.equal(new URL(page.url()).search, '', 'the code left the address bar');
    assert.equal(await page.evaluate('Object.keys(localStorage).some((k) => (localStorage.getItem(k) || "").includes("eyJ"))'), false, 'no token in localStorage');
    assert.equal(await page.evaluate('Object.keys(sessionStorage).some((k) => (sessionStorage.getItem(k) || "").includes("eyJ"))'), true, 'the token is in the tab\'s session');

    const asAnalyst = await runTab(page, 'Dashboard');
    assert.ok(asAnalyst.length >= 5 && asAnalyst.every((n) => n > 0), `every card of dashboard 1 shows rows as the analyst: ${asAnalyst.join(', ')}`);
    await page.screenshot({ path: new URL('explorer-analyst.png', ARTIFACTS).pathname });

    await page.getByLabel('Role').selectOption('sales');
    // Sales may not read the schema: the page says so, and still runs operations.
    await page.getByText(/may not read the schema/).waitFor();
    const asSales = await runTab(page, 'Dashboard');
    assert.ok(asSales.length < asAnalyst.length, `sales sees fewer of the dashboard's cards: ${asSales.length} < ${asAnalyst.length}`);
    await page.screenshot({ path: new URL('explorer-sales.png', ARTIFACTS).pathname });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('Sign in to explore').waitFor();
    assertStayedHome(w, gw.base, idp.issuer);
    await page.context().close();
  });
});

describe('in the demo', () => {
  let stack: DemoStack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('choose a demo user and see a dashboard\'s rows, without touching a token', async () => {
    const w = await watchedPage();
    const { page } = w;
    await page.goto(`${stack.gatewayUrl}/graphiql`);
    await page.getByLabel('Demo user').selectOption('analyst');
    await page.getByTestId('who').getByText('ana@example.test').waitFor();
    const rows = await runTab(page, 'Dashboard');
    assert.ok(rows.length >= 5 && rows.every((n) => n > 0), rows.join(', '));
    await page.screenshot({ path: new URL('explorer-demo.png', ARTIFACTS).pathname });

    // The demo's agent runs vetted operations only: the page says the explorer is not for it.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Demo user').selectOption('agent');
    await page.getByText(/runs vetted operations only/).waitFor();
    assertStayedHome(w, stack.gatewayUrl);
    await page.context().close();
  });
});

/**
 * The approvers' webhook against a local HTTP server: signed deliveries, retries on 5xx and 429 with
 * one delivery id, no retry on another 4xx, a bound on deliveries pending, and text a requester
 * wrote made harmless for Slack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { slackEscape, Webhook } from '../../../src/access/webhook.js';

interface Received { readonly body: string; readonly headers: IncomingMessage['headers'] }

async function receiver(answers: number[]) {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(answers.shift() ?? 200).end();
      waiters.splice(0).forEach((w) => w());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    /** Resolves once `n` requests have arrived. */
    async count(n: number): Promise<void> {
      while (received.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function logs() {
  const lines: { level: string; obj: Record<string, unknown> }[] = [];
  return { lines, logger: { warn: (obj: object) => lines.push({ level: 'warn', obj: obj as Record<string, unknown> }), info: (obj: object) => lines.push({ level: 'info', obj: obj as Record<string, unknown> }) } };
}

const MESSAGE = { event: 'access.requested', text: 'Sam asks', lines: ['Sam asks', 'Reason: *bold* <!here>'], facts: { request: { id: 'r1' } } };

test('a delivery is signed over timestamp and body; 503 and 429 are retried under one delivery id, until it lands', async () => {
  const hook = await receiver([503, 429, 200]);
  const secret = randomBytes(32).toString('hex');
  const { lines, logger } = logs();
  const webhook = new Webhook({ target: () => ({ url: hook.url, secret: async () => secret }), logger, baseDelayMs: 5 });
  try {
    webhook.send(MESSAGE);
    await webhook.settled();
    assert.equal(hook.received.length, 3);
    for (const r of hook.received) {
      const expected = `v1=${createHmac('sha256', secret).update(`${String(r.headers['x-gateway-timestamp'])}.${r.body}`).digest('hex')}`;
      assert.equal(r.headers['x-gateway-signature'], expected);
      assert.equal(r.headers['content-type'], 'application/json');
    }
    assert.equal(new Set(hook.received.map((r) => r.headers['x-gateway-delivery'])).size, 1);
    const body = JSON.parse(hook.received[0]!.body) as { text: string; mrkdwn: boolean; blocks: { text: { type: string; text: string } }[]; gateway: { event: string; request: { id: string } } };
    assert.deepEqual([body.text, body.mrkdwn, body.gateway.event, body.gateway.request.id], ['Sam asks', false, 'access.requested', 'r1']);
    assert.deepEqual(body.blocks.map((b) => b.text), [{ type: 'plain_text', text: 'Sam asks', emoji: false }, { type: 'plain_text', text: 'Reason: *bold* <!here>', emoji: false }], 'plain text: nothing is read as markup');
    assert.deepEqual(lines.map((l) => [l.level, l.obj['event'], l.obj['attempt']]), [['info', 'access.webhook-delivered', 3]]);
  } finally {
    await hook.close();
  }
});

test('a 4xx other than 429 is not retried; a receiver that never succeeds is given up after its attempts', async () => {
  const hook = await receiver([400, 500, 500, 500]);
  const { lines, logger } = logs();
  const webhook = new Webhook({ target: () => ({ url: hook.url, secret: async () => 's' }), logger, baseDelayMs: 1, attempts: 3 });
  try {
    webhook.send(MESSAGE);
    await hook.count(1);
    webhook.send(MESSAGE);
    await hook.count(4);
    await webhook.settled();
    assert.equal(hook.received.length, 4, 'one attempt for the 400, three for the 500s');
    assert.deepEqual(lines.map((l) => [l.obj['event'], l.obj['attempt'], l.obj['outcome']]), [
      ['access.webhook-failed', 1, 'answered 400'],
      ['access.webhook-failed', 3, 'answered 500'],
    ]);
  } finally {
    await hook.close();
  }
});

test('deliveries pending past the bound are dropped and logged; an unreadable secret sends nothing', async () => {
  const hook = await receiver([]);
  const { lines, logger } = logs();
  let release!: () => void;
  const held = new Promise<string>((r) => { release = () => r('s'); });
  const webhook = new Webhook({ target: () => ({ url: hook.url, secret: () => held }), logger, maxInFlight: 2 });
  try {
    webhook.send(MESSAGE);
    webhook.send(MESSAGE);
    webhook.send(MESSAGE);
    assert.deepEqual(lines.map((l) => l.obj['event']), ['access.webhook-dropped']);
    release();
    await webhook.settled();
    assert.equal(hook.received.length, 2);
    const broken = new Webhook({ target: () => ({ url: hook.url, secret: () => Promise.reject(new Error('ACCESS_WEBHOOK_SECRET is not set')) }), logger });
    broken.send(MESSAGE);
    await broken.settled();
    assert.equal(hook.received.length, 2, 'nothing unsigned goes out');
    assert.match(String(lines.at(-1)!.obj['problem']), /is not set/);
  } finally {
    await hook.close();
  }
});

test('closing stops a delivery waiting to retry at once', async () => {
  const hook = await receiver([503, 503]);
  const { lines, logger } = logs();
  const webhook = new Webhook({ target: () => ({ url: hook.url, secret: async () => 's' }), logger, baseDelayMs: 60_000 });
  try {
    webhook.send(MESSAGE);
    await hook.count(1);
    const started = performance.now();
    await webhook.close();
    assert.ok(performance.now() - started < 5_000, 'not the minute-long backoff');
    assert.equal(hook.received.length, 1);
    assert.deepEqual(lines.map((l) => l.obj['event']), ['access.webhook-failed']);
    webhook.send(MESSAGE);
    assert.equal(hook.received.length, 1, 'nothing is sent once closed');
  } finally {
    await hook.close();
  }
});

test('many deliveries retried leave nothing behind on the webhook\'s own signal', async () => {
  const hook = await receiver(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 503 : 200)));
  const { logger } = logs();
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  const webhook = new Webhook({ target: () => ({ url: hook.url, secret: async () => 's' }), logger, baseDelayMs: 1 });
  try {
    for (let i = 0; i < 20; i++) {
      webhook.send(MESSAGE);
      await webhook.settled();
    }
    assert.equal(hook.received.length, 40, 'each delivered on its second attempt');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await hook.close();
  }
});

test('text a requester wrote cannot mention, link, or reorder what is shown', () => {
  assert.equal(slackEscape('<!channel> see <https://evil.example|here> & *now*\nline'), '&lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp; *now* line');
  assert.equal(slackEscape('a\u202eb\u2028c\u0007d'), 'a b c d', 'bidi overrides, line separators and control characters go');
  assert.equal(slackEscape('x'.repeat(400)).length, 300);
});

/**
 * Tells approvers about access requests and decisions: a Slack-compatible JSON POST (`text` and
 * `blocks`, which a Slack incoming webhook shows as is, plus `gateway` with the event's facts for
 * other receivers), signed with HMAC-SHA256 under a secret the policy names.
 *
 * Signature: `X-Gateway-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
 * `X-Gateway-Timestamp` (Unix seconds): a receiver recomputes it over the raw body and refuses old
 * timestamps, so a captured delivery cannot be replayed later. `X-Gateway-Delivery` is the same on
 * every attempt of one delivery, so a receiver can drop repeats.
 *
 * Never in a request's way: `send` returns at once; delivery runs in the background with a deadline
 * per attempt, retried with exponential backoff and jitter on a network failure, a 429 or a 5xx, at
 * most `attempts` times; at most `maxInFlight` deliveries are pending, further ones are dropped and
 * logged. Nothing of the receiver's answer is ever shown to a caller.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WebhookTarget {
  readonly url: string;
  /** The signing secret, read when a delivery starts (a rotated file takes effect at once). */
  secret(): Promise<string>;
}

export interface WebhookLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface WebhookOptions {
  /** Where to deliver, as the policy in force says; null: no webhook. */
  readonly target: () => WebhookTarget | null;
  readonly logger: WebhookLogger;
  readonly attempts?: number;
  /** The first retry's delay, in ms; each next one doubles it (with up to 25% jitter). */
  readonly baseDelayMs?: number;
  readonly timeoutMs?: number;
  readonly maxInFlight?: number;
}

export interface WebhookMessage {
  /** The event's name, e.g. `access.requested`. */
  readonly event: string;
  /** The notification for people (Slack's `text`, shown where blocks are not: previews, notifications). */
  readonly text: string;
  /** The message for people, line by line (one plain-text block each). */
  readonly lines: readonly string[];
  /** Facts for programs. */
  readonly facts: Readonly<Record<string, unknown>>;
}

export class Webhook {
  readonly #inFlight = new Set<Promise<void>>();
  readonly #controllers = new Set<AbortController>();
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  #closed = false;

  constructor(private readonly options: WebhookOptions) {
    this.#attempts = options.attempts ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxInFlight = options.maxInFlight ?? 100;
  }

  /** Queues one delivery and returns at once. */
  send(message: WebhookMessage): void {
    const target = this.options.target();
    if (!target || this.#closed) return;
    const delivery = randomUUID();
    if (this.#inFlight.size >= this.#maxInFlight) {
      this.options.logger.warn({ event: 'access.webhook-dropped', delivery, notice: message.event, pending: this.#inFlight.size }, 'too many webhook deliveries pending; this one is dropped');
      return;
    }
    // Each delivery has its own controller (closing aborts them all): nothing is added to a long-lived signal per attempt.
    const controller = new AbortController();
    this.#controllers.add(controller);
    const done: Promise<void> = this.#deliver(target, delivery, message, controller.signal).finally(() => {
      this.#inFlight.delete(done);
      this.#controllers.delete(controller);
    });
    this.#inFlight.add(done);
  }

  /** Resolves when every delivery pending now has landed or been given up. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Shutdown: new deliveries are refused, those pending stop at their next step (a wait, or an attempt in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const controller of this.#controllers) controller.abort();
    await Promise.all([...this.#inFlight]);
  }

  async #deliver(target: WebhookTarget, delivery: string, message: WebhookMessage, stop: AbortSignal): Promise<void> {
    // Plain text throughout: what callers wrote (a reason, a note, a name) is shown, never read as markup.
    const body = JSON.stringify({
      text: message.text, mrkdwn: false,
      blocks: message.lines.map((line) => ({ type: 'section', text: { type: 'plain_text', text: line, emoji: false } })),
      gateway: { event: message.event, delivery, ...message.facts },
    });
    let secret: string;
    try {
      secret = await target.secret();
    } catch (err) {
      this.options.logger.warn({ event: 'access.webhook-failed', delivery, notice: message.event, problem: (err as Error).message }, 'the webhook secret cannot be read; nothing was sent');
      return;
    }
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
      let outcome: string;
      try {
        const res = await fetch(target.url, {
          method: 'POST', body, redirect: 'manual', signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), stop]),
          headers: { 'content-type': 'application/json', 'x-gateway-timestamp': timestamp, 'x-gateway-signature': `v1=${signature}`, 'x-gateway-delivery': delivery },
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          this.options.logger.info({ event: 'access.webhook-delivered', delivery, notice: message.event, attempt }, 'webhook delivered');
          return;
        }
        outcome = `answered ${res.status}`;
        if (res.status !== 429 && res.status < 500) {
          this.options.logger.warn({ event: 'access.webhook-failed', delivery, notice: message.event, attempt, outcome }, 'the webhook refused the delivery; it is not retried');
          return;
        }
      } catch (err) {
        outcome = (err as Error).name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : 'could not be reached';
      }
      if (attempt === this.#attempts || this.#closed) {
        this.options.logger.warn({ event: 'access.webhook-failed', delivery, notice: message.event, attempt, outcome }, 'webhook delivery failed; no more attempts');
        return;
      }
      const delay = this.#baseDelayMs * 2 ** (attempt - 1);
      // Closing cuts the wait short (no listener is left behind on the long-lived signal).
      await sleep(delay + Math.random() * delay * 0.25, undefined, { signal: stop }).catch(() => undefined);
      if (this.#closed) {
        this.options.logger.warn({ event: 'access.webhook-failed', delivery, notice: message.event, attempt, outcome }, 'webhook delivery stopped: the gateway is closing');
        return;
      }
    }
  }
}

/**
 * Text a caller wrote, made safe for Slack: `&`, `<` and `>` escaped (no mentions or links can be
 * formed), control, line-separator, zero-width and bidirectional characters removed, cut to `max`
 * characters.
 */
export function slackEscape(text: string, max = 300): string {
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g, ' ');
  // Cut by code points, so no surrogate pair is split.
  const points = Array.from(plain);
  const cut = points.length > max ? `${points.slice(0, max - 1).join('')}…` : plain;
  return cut.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

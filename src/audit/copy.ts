/**
 * Copying caller-supplied values (variables, run parameters) into an audit record: redacted and
 * bounded. The walk uses an explicit stack, so no value can overflow the call stack, and it stops at
 * fixed bounds of depth, string length, values and bytes, marking what it left out.
 */

export interface CopyBounds {
  /** Nesting kept; deeper values become `"[deeper]"`. */
  readonly depth: number;
  /** Characters kept of a string; the rest is cut with `…`. */
  readonly stringChars: number;
  /** Object keys and list items kept, all levels together; the rest are left out. */
  readonly values: number;
  /** Approximate JSON bytes kept; past it, further values are left out. */
  readonly bytes: number;
}

export const DEFAULT_COPY_BOUNDS: CopyBounds = { depth: 8, stringChars: 512, values: 500, bytes: 16_384 };

export interface CopyRules {
  /** Keys whose values are replaced by `[redacted]`, whatever they hold. */
  readonly sensitiveKey: (key: string) => boolean;
  /** Leaf values replaced by `[redacted]` (credential-shaped strings, values of redacted variables). */
  readonly sensitiveValue: (value: unknown) => boolean;
}

const REDACTED = '[redacted]';
const DEEPER = '[deeper]';

export interface Copied {
  readonly value: unknown;
  /** True when any bound cut something. */
  readonly truncated: boolean;
}

type Slot = { readonly set: (v: unknown) => void };

/** A redacted, bounded copy of a JSON-like value. */
export function boundedCopy(value: unknown, rules: CopyRules, bounds: CopyBounds = DEFAULT_COPY_BOUNDS): Copied {
  let truncated = false;
  let values = 0;
  let bytes = 0;
  let result: unknown;
  const stack: { value: unknown; depth: number; slot: Slot }[] = [{ value, depth: 1, slot: { set: (v) => (result = v) } }];
  while (stack.length > 0) {
    const { value: v, depth, slot } = stack.pop()!;
    if (typeof v === 'string') {
      if (rules.sensitiveValue(v)) slot.set(REDACTED);
      else if (v.length > bounds.stringChars) {
        truncated = true;
        slot.set(`${v.slice(0, bounds.stringChars)}…`);
      } else slot.set(v);
      bytes += Math.min(v.length, bounds.stringChars) + 2;
    } else if (v === null || typeof v !== 'object') {
      slot.set(rules.sensitiveValue(v) ? REDACTED : v);
      bytes += 8;
    } else if (depth > bounds.depth) {
      truncated = true;
      slot.set(DEEPER);
    } else if (Array.isArray(v)) {
      const out: unknown[] = [];
      slot.set(out);
      const room = Math.max(0, Math.min(v.length, bounds.values - values));
      if (room < v.length) truncated = true;
      values += room;
      // Pushed in reverse, so items are copied in order; each item's slot is its index.
      for (let i = room - 1; i >= 0; i--) stack.push({ value: v[i], depth: depth + 1, slot: { set: (x) => (out[i] = x) } });
    } else {
      const out: Record<string, unknown> = {};
      slot.set(out);
      const keys = Object.keys(v);
      const room = Math.max(0, Math.min(keys.length, bounds.values - values));
      if (room < keys.length) truncated = true;
      values += room;
      // Keys are placed in their order first; values arrive as the stack reaches them.
      // Own properties, whatever the key: a caller's `__proto__` key stays data.
      const put = (key: string, x: unknown): void => {
        Object.defineProperty(out, key, { value: x, enumerable: true, writable: true, configurable: true });
      };
      for (let i = 0; i < room; i++) put(keys[i]!, rules.sensitiveKey(keys[i]!) ? REDACTED : undefined);
      for (let i = room - 1; i >= 0; i--) {
        const key = keys[i]!;
        bytes += Math.min(key.length, bounds.stringChars) + 4;
        if (!rules.sensitiveKey(key)) stack.push({ value: (v as Record<string, unknown>)[key], depth: depth + 1, slot: { set: (x) => put(key, x) } });
      }
    }
    if (bytes > bounds.bytes && stack.length > 0) {
      // Out of room: what is still queued is left out (its slots stay unset).
      truncated = true;
      break;
    }
  }
  return { value: result, truncated };
}

/** Leaf values found under sensitive keys, at most `max` of them: they are cut wherever else they appear. */
export function valuesUnderSensitiveKeys(value: unknown, sensitiveKey: (key: string) => boolean, max = 500): Set<unknown> {
  const found = new Set<unknown>();
  const stack: { value: unknown; hidden: boolean; depth: number }[] = [{ value, hidden: false, depth: 1 }];
  let visited = 0;
  while (stack.length > 0 && found.size < max && visited < 10_000) {
    const { value: v, hidden, depth } = stack.pop()!;
    visited += 1;
    if (v !== null && typeof v === 'object') {
      if (depth > DEFAULT_COPY_BOUNDS.depth * 2) continue;
      if (Array.isArray(v)) for (const item of v) stack.push({ value: item, hidden, depth: depth + 1 });
      else for (const [k, item] of Object.entries(v)) stack.push({ value: item, hidden: hidden || sensitiveKey(k), depth: depth + 1 });
    } else if (hidden && v !== null && v !== undefined && v !== '') found.add(v);
  }
  return found;
}

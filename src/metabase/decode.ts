/**
 * Reading Metabase's JSON defensively: required fields are checked, optional ones get defaults and
 * unknown keys are ignored (API-CONTRACT.md §9.9). A shape we cannot read is Metabase misbehaving,
 * so it is an UPSTREAM_UNAVAILABLE error; the field it names goes to the log.
 */
import { UpstreamUnavailableError } from '../errors/index.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class ShapeError extends UpstreamUnavailableError {
  constructor(readonly where: string, expected: string, received: unknown) {
    super('Metabase sent an answer the gateway could not read.', {
      details: { reason: 'bad-response' }, detail: `${where} should be ${expected}, received ${describe(received)}`,
    });
  }
}

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A cursor over one JSON object that knows its path, for error messages. */
export class Reader {
  constructor(
    readonly value: Record<string, unknown>,
    readonly path: string,
  ) {}

  static of(value: unknown, path: string): Reader {
    if (!isObject(value)) throw new ShapeError(path, 'an object', value);
    return new Reader(value, path);
  }

  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  raw(key: string): unknown {
    return this.value[key];
  }

  private fail(key: string, expected: string): never {
    throw new ShapeError(`${this.path}.${key}`, expected, this.value[key]);
  }

  str(key: string): string {
    const v = this.value[key];
    return typeof v === 'string' ? v : this.fail(key, 'a string');
  }

  optStr(key: string): string | null {
    const v = this.value[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'string' ? v : this.fail(key, 'a string or null');
  }

  int(key: string): number {
    const v = this.value[key];
    return typeof v === 'number' && Number.isInteger(v) ? v : this.fail(key, 'an integer');
  }

  optInt(key: string): number | null {
    const v = this.value[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'number' && Number.isInteger(v) ? v : this.fail(key, 'an integer or null');
  }

  optNum(key: string): number | null {
    const v = this.value[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'number' ? v : this.fail(key, 'a number or null');
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.value[key];
    if (v === undefined || v === null) return fallback;
    return typeof v === 'boolean' ? v : this.fail(key, 'a boolean');
  }

  /** An id that is a positive integer or a string such as `"root"`. */
  id(key: string): number | string {
    const v = this.value[key];
    return typeof v === 'number' || typeof v === 'string' ? v : this.fail(key, 'an id');
  }

  array(key: string): unknown[] {
    const v = this.value[key];
    if (v === undefined || v === null) return [];
    return Array.isArray(v) ? v : this.fail(key, 'an array');
  }

  /** Maps each element of an array field through a reader. */
  list<T>(key: string, read: (r: Reader) => T): T[] {
    return this.array(key).map((item, i) => read(Reader.of(item, `${this.path}.${key}[${i}]`)));
  }

  optObject(key: string): Reader | null {
    const v = this.value[key];
    if (v === undefined || v === null) return null;
    return Reader.of(v, `${this.path}.${key}`);
  }

  strings(key: string): string[] {
    return this.array(key).map((v, i) => (typeof v === 'string' ? v : (() => { throw new ShapeError(`${this.path}.${key}[${i}]`, 'a string', v); })()));
  }

  ints(key: string): number[] {
    return this.array(key).map((v, i) => (typeof v === 'number' && Number.isInteger(v) ? v : (() => { throw new ShapeError(`${this.path}.${key}[${i}]`, 'an integer', v); })()));
  }
}

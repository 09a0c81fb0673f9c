/**
 * Oversized answers (`knobs.oversizeBodyBytes`): a syntactically plausible JSON body of an exact size,
 * `{"data":["xxxx…","xxxx…",…]}`, generated chunk by chunk and written with backpressure, so that a body of
 * hundreds of megabytes costs the emulator a few chunks of memory. Optionally gzipped on the fly: a small
 * compressed stream that expands to the full size. Writing stops as soon as the client goes away.
 */
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { constants, createGzip, type Gzip } from 'node:zlib';

/** Bytes per generated chunk. */
export const OVERSIZE_CHUNK_BYTES = 64 * 1024;

const HEAD = Buffer.from('{"data":[');
const TAIL = Buffer.from(']}');

/** One array element of `length` bytes: `"xx…x"`, after a comma unless it is the first. */
function element(length: number, first: boolean): Buffer {
  const b = Buffer.alloc(length, 'x');
  let i = 0;
  if (!first) b[i++] = 0x2c; // ,
  b[i] = 0x22; // "
  b[length - 1] = 0x22;
  return b;
}

// The full-size chunks are made once and written again and again.
const FULL_FIRST = element(OVERSIZE_CHUNK_BYTES, true);
const FULL_NEXT = element(OVERSIZE_CHUNK_BYTES, false);

/**
 * The chunks of an oversized body of exactly `size` bytes. Bodies of at least 11 bytes are valid JSON
 * (`{"data":[` + string elements + `]}`, padded with spaces where an element would not fit); smaller ones are
 * `{}` padded with spaces.
 */
export function* oversizedChunks(size: number): Generator<Buffer> {
  const total = Math.max(0, Math.floor(size));
  if (total < HEAD.length + TAIL.length) {
    if (total >= 2) yield Buffer.concat([Buffer.from('{}'), Buffer.alloc(total - 2, ' ')]);
    else if (total === 1) yield Buffer.from(' ');
    return;
  }
  yield HEAD;
  let left = total - HEAD.length - TAIL.length;
  let first = true;
  while (left > 0) {
    const overhead = first ? 2 : 3; // quotes, and the comma before every element but the first
    if (left < overhead) {
      yield Buffer.alloc(left, ' ');
      break;
    }
    const n = Math.min(OVERSIZE_CHUNK_BYTES, left);
    yield n === OVERSIZE_CHUNK_BYTES ? (first ? FULL_FIRST : FULL_NEXT) : element(n, first);
    left -= n;
    first = false;
  }
  yield TAIL;
}

/** Waits until `stream` can take more, or until it or the response closes. */
function drained(stream: Writable, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      res.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
    res.once('close', done);
  });
}

/** Writes every chunk of a `size`-byte body into `sink`, with backpressure, until done or `gone()`. */
async function feed(sink: Writable, res: ServerResponse, size: number, gone: () => boolean, onChunk?: (n: number) => void): Promise<boolean> {
  for (const chunk of oversizedChunks(size)) {
    if (gone() || sink.destroyed) return false;
    onChunk?.(chunk.length);
    if (!sink.write(chunk)) await drained(sink, res);
  }
  return !gone() && !sink.destroyed;
}

/** Compressed sizes already measured, by body size (the body is fully determined by its size). */
const gzippedSizes = new Map<number, Promise<number>>();

/** How many bytes the gzipped body of `size` bytes takes: compressed once and counted, never kept. */
export function gzippedLength(size: number): Promise<number> {
  let known = gzippedSizes.get(size);
  if (!known) {
    known = new Promise<number>((resolve, reject) => {
      const gz = createGzip({ level: constants.Z_BEST_SPEED });
      let bytes = 0;
      gz.on('data', (c: Buffer) => (bytes += c.length));
      gz.on('end', () => resolve(bytes));
      gz.on('error', reject);
      void (async () => {
        for (const chunk of oversizedChunks(size)) {
          if (!gz.write(chunk)) await new Promise<void>((r) => gz.once('drain', r));
        }
        gz.end();
      })();
    });
    known.catch(() => gzippedSizes.delete(size));
    if (gzippedSizes.size >= 8) gzippedSizes.clear();
    gzippedSizes.set(size, known);
  }
  return known;
}

export interface OversizeOptions {
  readonly status: number;
  readonly size: number;
  readonly declareLength: boolean;
  readonly gzip: boolean;
  readonly headers: Record<string, string>;
  /** True once the client has gone away. */
  readonly gone: () => boolean;
  /** Called with the number of bytes handed to the connection (compressed when gzipped). */
  readonly sent: (n: number) => void;
}

/** Answers with an oversized body, streamed; resolves when it is written or the client has gone away. */
export async function streamOversized(res: ServerResponse, o: OversizeOptions): Promise<void> {
  const headers: Record<string, string> = { ...o.headers, 'content-type': 'application/json;charset=utf-8' };
  if (o.gzip) headers['content-encoding'] = 'gzip';
  if (o.declareLength) {
    const length = o.gzip ? await gzippedLength(o.size) : Math.max(0, Math.floor(o.size));
    if (o.gone()) return;
    headers['content-length'] = String(length);
  }
  res.writeHead(o.status, headers);
  if (!o.gzip) {
    if (await feed(res, res, o.size, o.gone, o.sent)) res.end();
    return;
  }
  const gz: Gzip = createGzip({ level: constants.Z_BEST_SPEED });
  gz.on('error', () => res.destroy());
  gz.on('data', (c: Buffer) => {
    if (o.gone()) return;
    o.sent(c.length);
    if (!res.write(c)) gz.pause();
  });
  res.on('drain', () => gz.resume());
  gz.on('end', () => {
    if (!o.gone()) res.end();
  });
  const fed = await feed(gz, res, o.size, o.gone);
  if (fed) gz.end();
  else gz.destroy();
}

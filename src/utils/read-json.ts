/**
 * Reads a fetch Response's JSON body, refusing it past `maxBytes` (declared or counted) and
 * cancelling the stream there, so a misbehaving identity provider or Graph endpoint cannot make the
 * gateway buffer an answer of any size.
 */
export async function readJson(res: Response, maxBytes: number, what: string): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`${what} answered more than ${maxBytes} bytes`);
  }
  if (!res.body) return JSON.parse('');
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`${what} answered more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
}

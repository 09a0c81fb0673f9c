/** A plain HTTP server on 127.0.0.1 and port 0, for stand-ins of outside services (Microsoft Graph, an odd identity provider). */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubServer {
  readonly url: string;
  /** Stops answering and drops open connections. */
  close(): Promise<void>;
}

/** Starts `handle` as a server; it gets each request with its body already read as text. */
export async function startStub(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>): Promise<StubServer> {
  const server = createServer((req, res) => {
    void (async () => {
      let body = '';
      for await (const chunk of req) body += (chunk as Buffer).toString();
      await handle(req, body, res);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

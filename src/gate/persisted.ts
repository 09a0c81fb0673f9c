/**
 * Vetted operations, sent by id. The manifest (schema/persisted-operations.json, written by
 * `npm run codegen` from schema/operations/vetted/) maps the SHA-256 of each vetted document to the
 * document. A request may name one by `documentId` (`sha256:<hex>` or `<hex>`, the trusted-documents
 * convention) or by Apollo's `extensions.persistedQuery.sha256Hash`; the gateway puts the document in
 * its place before anything parses it. A vetted-only role may send nothing else: a document is
 * refused with PERSISTED_QUERY_REQUIRED before it is parsed or validated (or, in `log` mode, logged
 * and let through), and a role limited to some operations (`operations` in the policy) is refused
 * the others. Other roles may send either form. Callers cannot register documents.
 */
import { readFileSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { BadUserInputError, ForbiddenError, PersistedQueryNotFoundError, PersistedQueryRequiredError } from '../errors/index.js';

export interface VettedOperation {
  /** The SHA-256 of the document, in hex. */
  readonly id: string;
  readonly name: string;
  readonly type: 'query' | 'mutation';
  readonly document: string;
}

export const DEFAULT_MANIFEST_FILE = new URL('../../schema/persisted-operations.json', import.meta.url);

export class VettedOperations {
  readonly #byId: ReadonlyMap<string, VettedOperation>;
  readonly names: ReadonlySet<string>;

  constructor(operations: readonly VettedOperation[]) {
    this.#byId = new Map(operations.map((o) => [o.id, o]));
    this.names = new Set(operations.map((o) => o.name));
  }

  /** Reads a manifest `{ "<sha256 hex>": "<document>" }`; fails, naming the problem, when it is not one. */
  static load(file: URL | string = DEFAULT_MANIFEST_FILE): VettedOperations {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${String(file)}: expected an object of sha256 ids to documents`);
    const operations = Object.entries(raw as Record<string, unknown>).map(([id, document]) => {
      if (!/^[0-9a-f]{64}$/.test(id) || typeof document !== 'string') throw new Error(`${String(file)}: ${id.slice(0, 70)} is not a sha256 id of a document`);
      const defs = parse(document).definitions;
      const op = defs[0] as OperationDefinitionNode | undefined;
      if (defs.length !== 1 || op?.kind !== Kind.OPERATION_DEFINITION || !op.name || op.operation === 'subscription') {
        throw new Error(`${String(file)}: ${id} is not one named query or mutation`);
      }
      return { id, name: op.name.value, type: op.operation, document };
    });
    return new VettedOperations(operations);
  }

  get(id: string): VettedOperation | undefined {
    return this.#byId.get(id);
  }

  all(): VettedOperation[] {
    return [...this.#byId.values()];
  }
}

interface Body {
  query?: unknown;
  documentId?: unknown;
  operationName?: unknown;
  extensions?: { persistedQuery?: { sha256Hash?: unknown; version?: unknown } } & Record<string, unknown>;
}

/** The id a request names, if any: `documentId`, or `extensions.persistedQuery.sha256Hash`. */
function requestedId(body: Body): string | null {
  const documentId = body.documentId;
  const hash = body.extensions?.persistedQuery?.sha256Hash;
  if (documentId !== undefined && hash !== undefined) throw new BadUserInputError('Name the vetted operation once: `documentId` or `extensions.persistedQuery.sha256Hash`, not both.', { details: { reason: 'ambiguous' } });
  const id = documentId ?? hash;
  if (id === undefined) return null;
  const m = typeof id === 'string' ? /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(id) : null;
  if (!m) throw new BadUserInputError('Expected the operation id to be a SHA-256 in hex (64 characters), optionally prefixed `sha256:`.', { details: { argument: documentId !== undefined ? 'documentId' : 'extensions.persistedQuery.sha256Hash' } });
  return m[1]!.toLowerCase();
}

/** The preHandler that resolves ids to vetted documents and holds vetted-only roles to them. */
export function persistedOperations(vetted: VettedOperations) {
  return async function resolvePersisted(request: FastifyRequest): Promise<void> {
    const role = request.caller?.role;
    if (request.method === 'GET') {
      const params = new URL(request.url, 'http://gateway.invalid/').searchParams;
      if (params.has('documentId') || /persistedQuery/.test(params.get('extensions') ?? '')) {
        throw new BadUserInputError('Send vetted operations by id with POST.', { details: { reason: 'persisted-by-get' } });
      }
      if (role?.vettedOnly) refuseDocument(request, role);
      return;
    }
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
    const b = body as Body;
    const id = requestedId(b);
    if (id === null) {
      if (role?.vettedOnly) refuseDocument(request, role);
      return;
    }
    if (b.query !== undefined) throw new BadUserInputError('Send a vetted operation\'s id or a document, not both.', { details: { reason: 'ambiguous' } });
    const op = vetted.get(id);
    if (!op) throw new PersistedQueryNotFoundError(`No vetted operation has the id ${id}.`);
    if (role?.vettedOnly && role.operations && !role.operations.includes(op.name)) {
      const refusal = new ForbiddenError(`Role ${role.name} may not run the vetted operation ${op.name}.`, { details: { reason: 'operation-not-allowed', operation: op.name } });
      if (role.vettedOnlyMode === 'enforce') throw refusal;
      request.log.warn({ event: 'vetted-only.would-refuse', reason: 'operation-not-allowed', operation: op.name }, 'a vetted-only role ran a vetted operation it is not allowed (log mode)');
    }
    if (typeof b.operationName === 'string' && b.operationName !== op.name) {
      throw new BadUserInputError(`The vetted operation ${id} is ${op.name}, not ${b.operationName}.`, { details: { argument: 'operationName' } });
    }
    // The document takes the id's place: what runs is the reviewed text, parsed as any other.
    b.query = op.document;
    b.operationName = op.name;
    delete b.documentId;
    if (b.extensions) {
      delete b.extensions.persistedQuery;
      if (Object.keys(b.extensions).length === 0) delete b.extensions;
    }
    request.persistedOperation = op;
    if (request.trail) {
      request.trail.persistedId = op.id;
      // Known before parsing: a call refused later, before Apollo names it, is still on record by name.
      request.trail.operationName = op.name;
      request.trail.operationType = op.type;
    }
  };
}

function refuseDocument(request: FastifyRequest, role: { name: string; vettedOnlyMode: 'enforce' | 'log' }): void {
  if (role.vettedOnlyMode === 'log') {
    request.log.warn({ event: 'vetted-only.would-refuse', reason: 'document' }, 'a vetted-only role sent a document instead of a vetted operation\'s id (log mode)');
    return;
  }
  throw new PersistedQueryRequiredError(`Role ${role.name} may run vetted operations only: send one by id (\`documentId\`), not a document. The vetted operations are in schema/operations/vetted/.`, {
    details: { reason: 'vetted-only' },
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The vetted operation the request named by id, when it did. */
    persistedOperation?: VettedOperation;
  }
}

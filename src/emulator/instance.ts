/**
 * The emulator's live state: people, API keys, sessions, and the permission checks of
 * API-CONTRACT.md §7. Secrets (passwords, keys, session ids) are made here at start-up and kept
 * only as SHA-256 digests where Metabase keeps hashes.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  ADMINISTRATORS, ALL_USERS, COLLECTIONS, GROUPS, USERS, CREATED_AT,
  type CollectionDef, type CollectionPermission, type CreateQueries, type ViewData,
} from './content.js';

export interface UserRecord {
  readonly id: number;
  email: string;
  firstName: string;
  lastName: string;
  readonly type: 'personal' | 'api-key';
  groupIds: number[];
  isActive: boolean;
  readonly personalCollectionId: number | null;
  readonly dateJoined: string;
  lastLogin: string | null;
}

export interface ApiKeyRecord {
  readonly id: number;
  name: string;
  groupId: number;
  readonly userId: number;
  digest: Buffer;
  prefix: string;
  readonly createdAt: string;
  updatedAt: string;
}

export interface Principal {
  readonly user: UserRecord;
  readonly sessionId?: string;
  readonly isSuperuser: boolean;
}

export interface DemoCredential {
  readonly group: string;
  readonly groupId: number;
  readonly apiKey: string;
  readonly email: string;
  readonly password: string;
}

export interface InstanceOptions {
  /** Session age in minutes (Metabase's `MAX_SESSION_AGE`). Default 20160 (14 days). */
  readonly sessionAgeMinutes?: number;
  /** Failed logins per username before throttling; 0 turns throttling off. Default 10. */
  readonly loginThrottleFailures?: number;
  /** Seconds a throttled username must wait. Default 15. */
  readonly loginThrottleSeconds?: number;
  /** Passwords by email; any person left out gets a random one. */
  readonly passwords?: Readonly<Record<string, string>>;
  /** Clock, for tests that age sessions. Default `Date.now`. */
  readonly now?: () => number;
}

const digest = (secret: string): Buffer => createHash('sha256').update(secret).digest();
const newApiKey = (): string => `mb_${randomBytes(32).toString('base64')}`;
const RANK_COLLECTION: Record<CollectionPermission, number> = { none: 0, read: 1, write: 2 };
const RANK_CREATE: Record<CreateQueries, number> = { no: 0, 'query-builder': 1, 'query-builder-and-native': 2 };

export class Instance {
  readonly users = new Map<number, UserRecord>();
  readonly apiKeys = new Map<number, ApiKeyRecord>();
  readonly demoCredentials: DemoCredential[] = [];
  private readonly passwords = new Map<number, Buffer>();
  private readonly sessions = new Map<string, { userId: number; createdAt: number }>();
  private readonly failedLogins = new Map<string, { count: number; until: number }>();
  private readonly now: () => number;
  private readonly sessionAgeMs: number;
  private readonly throttleFailures: number;
  private readonly throttleMs: number;
  private nextUserId = 100;
  private nextKeyId = 1;

  constructor(options: InstanceOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sessionAgeMs = (options.sessionAgeMinutes ?? 20_160) * 60_000;
    this.throttleFailures = options.loginThrottleFailures ?? 10;
    this.throttleMs = (options.loginThrottleSeconds ?? 15) * 1000;
    const passwords = new Map<number, string>();
    for (const u of USERS) {
      const password = options.passwords?.[u.email] ?? randomBytes(12).toString('base64url');
      passwords.set(u.id, password);
      this.passwords.set(u.id, digest(password));
      this.users.set(u.id, {
        id: u.id, email: u.email, firstName: u.firstName, lastName: u.lastName, type: 'personal',
        groupIds: [ALL_USERS, ...u.groupIds], isActive: true, personalCollectionId: u.personalCollectionId,
        dateJoined: CREATED_AT, lastLogin: null,
      });
    }
    // One API key and one login per group, as the demo and the tests use them.
    for (const g of GROUPS) {
      const { key } = this.createApiKey(`${g.name} key`, g.id);
      const person = USERS.find((u) => (g.id === ALL_USERS ? u.groupIds.length === 0 : u.groupIds.includes(g.id)))!;
      this.demoCredentials.push({ group: g.name, groupId: g.id, apiKey: key, email: person.email, password: passwords.get(person.id)! });
    }
  }

  // --- API keys (API-CONTRACT.md §2.4) ---------------------------------------------------------

  createApiKey(name: string, groupId: number): { record: ApiKeyRecord; key: string } {
    const key = newApiKey();
    const user: UserRecord = {
      id: this.nextUserId++, email: `api-key-user-${randomUUID()}@api-key.invalid`, firstName: name, lastName: '',
      type: 'api-key', groupIds: groupId === ALL_USERS ? [ALL_USERS] : [ALL_USERS, groupId], isActive: true,
      personalCollectionId: null, dateJoined: new Date(this.now()).toISOString(), lastLogin: null,
    };
    this.users.set(user.id, user);
    const stamp = new Date(this.now()).toISOString();
    const record: ApiKeyRecord = { id: this.nextKeyId++, name, groupId, userId: user.id, digest: digest(key), prefix: key.slice(0, 7), createdAt: stamp, updatedAt: stamp };
    this.apiKeys.set(record.id, record);
    return { record, key };
  }

  regenerateApiKey(record: ApiKeyRecord): string {
    const key = newApiKey();
    record.digest = digest(key);
    record.prefix = key.slice(0, 7);
    record.updatedAt = new Date(this.now()).toISOString();
    return key;
  }

  setApiKeyGroup(record: ApiKeyRecord, groupId: number): void {
    record.groupId = groupId;
    this.users.get(record.userId)!.groupIds = groupId === ALL_USERS ? [ALL_USERS] : [ALL_USERS, groupId];
  }

  /** Deleting a key deactivates its synthetic user; its next call gets 401. */
  deleteApiKey(record: ApiKeyRecord): void {
    this.apiKeys.delete(record.id);
    this.users.get(record.userId)!.isActive = false;
  }

  /** A test knob: revoke a key given in clear. Returns false when no live key matches. */
  revokeApiKey(key: string): boolean {
    const record = this.findApiKey(key);
    if (!record) return false;
    this.deleteApiKey(record);
    return true;
  }

  private findApiKey(key: string): ApiKeyRecord | undefined {
    if (!key.startsWith('mb_') || key.length < 12 || key.length > 254) return undefined;
    const d = digest(key);
    for (const r of this.apiKeys.values()) if (timingSafeEqual(r.digest, d)) return r;
    return undefined;
  }

  // --- Sessions (API-CONTRACT.md §2.1–2.3) -----------------------------------------------------

  /** Checks a login. Returns the new session id, or the §2.1 error body to send with 401. */
  login(username: string, password: string): { sessionId: string } | { error: Record<string, string> } {
    const key = username.toLowerCase();
    const failures = this.failedLogins.get(key);
    const now = this.now();
    if (this.throttleFailures > 0 && failures && failures.count >= this.throttleFailures && failures.until > now) {
      const wait = Math.ceil((failures.until - now) / 1000);
      return { error: { username: `Too many attempts! You must wait ${wait} seconds before trying again.` } };
    }
    const user = [...this.users.values()].find((u) => u.type === 'personal' && u.email.toLowerCase() === key);
    const stored = user && this.passwords.get(user.id);
    if (!user || !stored || !timingSafeEqual(stored, digest(password))) {
      const count = (failures && failures.until > now ? failures.count : 0) + 1;
      this.failedLogins.set(key, { count, until: now + this.throttleMs });
      return { error: { password: 'did not match stored password' } };
    }
    if (!user.isActive) return { error: { _error: 'Your account is disabled.' } };
    this.failedLogins.delete(key);
    const sessionId = randomUUID();
    this.sessions.set(sessionId, { userId: user.id, createdAt: now });
    user.lastLogin = new Date(now).toISOString();
    return { sessionId };
  }

  logout(sessionId: string): boolean {
    return this.sessions.delete(sessionId);
  }

  deactivateUser(userId: number): void {
    const u = this.users.get(userId);
    if (u) u.isActive = false;
  }

  /** The caller of a request, from `X-API-Key`, `X-Metabase-Session` or the `metabase.SESSION` cookie. */
  authenticate(headers: Record<string, string | string[] | undefined>): Principal | undefined {
    const apiKey = headers['x-api-key'];
    if (typeof apiKey === 'string' && apiKey !== '') {
      const record = this.findApiKey(apiKey);
      const user = record && this.users.get(record.userId);
      return user?.isActive ? this.principal(user) : undefined;
    }
    const sessionId = (headers['x-metabase-session'] as string | undefined) ?? readCookie(headers['cookie'], 'metabase.SESSION');
    if (!sessionId) return undefined;
    const session = this.sessions.get(sessionId);
    if (!session) return undefined;
    if (this.now() - session.createdAt >= this.sessionAgeMs) {
      this.sessions.delete(sessionId);
      return undefined;
    }
    const user = this.users.get(session.userId);
    return user?.isActive ? this.principal(user, sessionId) : undefined;
  }

  private principal(user: UserRecord, sessionId?: string): Principal {
    const isSuperuser = user.groupIds.includes(ADMINISTRATORS);
    return sessionId ? { user, sessionId, isSuperuser } : { user, isSuperuser };
  }

  // --- Permissions (API-CONTRACT.md §7): the most permissive grant across the caller's groups ---

  collectionPermission(p: Principal, collection: CollectionDef | null): CollectionPermission {
    if (p.isSuperuser) return 'write';
    if (collection?.personalOwnerId != null) return collection.personalOwnerId === p.user.id ? 'write' : 'none';
    const key = collection ? String(collection.id) : 'root';
    let best: CollectionPermission = 'none';
    for (const g of GROUPS) {
      if (!p.user.groupIds.includes(g.id)) continue;
      const perm = g.collections[key] ?? 'none';
      if (RANK_COLLECTION[perm] > RANK_COLLECTION[best]) best = perm;
    }
    return best;
  }

  canRead(p: Principal, collectionId: number | null): boolean {
    return this.collectionPermission(p, collectionId === null ? null : collectionById(collectionId) ?? null) !== 'none';
  }

  canWrite(p: Principal, collectionId: number | null): boolean {
    return this.collectionPermission(p, collectionId === null ? null : collectionById(collectionId) ?? null) === 'write';
  }

  dataPermission(p: Principal, databaseId: number): { viewData: ViewData; createQueries: CreateQueries } {
    if (p.isSuperuser) return { viewData: 'unrestricted', createQueries: 'query-builder-and-native' };
    let viewData: ViewData = 'blocked';
    let createQueries: CreateQueries = 'no';
    for (const g of GROUPS) {
      if (!p.user.groupIds.includes(g.id)) continue;
      const d = g.data[databaseId];
      if (!d) continue;
      if (d.viewData === 'unrestricted') viewData = 'unrestricted';
      if (RANK_CREATE[d.createQueries] > RANK_CREATE[createQueries]) createQueries = d.createQueries;
    }
    return { viewData, createQueries };
  }
}

export const collectionById = (id: number): CollectionDef | undefined => COLLECTIONS.find((c) => c.id === id);

function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const raw = Array.isArray(header) ? header.join(';') : header;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined; // a malformed cookie is no session
    }
  }
  return undefined;
}

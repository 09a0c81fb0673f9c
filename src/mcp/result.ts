/**
 * A tool result within the role's byte budget (`toolResultBytes`). The result is the operation's
 * data as structured content, and the same as compact JSON text for clients that read text only;
 * the two together stay within the budget. A larger result has its lists cut from the end, rows of
 * a run first, and says so in `cut`: which lists, how much was kept, and for a run, its id, with the
 * page's `endCursor` moved to the last row kept, so the agent reads the rest with AgentReadRun.
 * The walk over the data is iterative, and the data is the gateway's own answer (already bounded).
 */
import { encodeCursor } from '../graph/runs/cursor.js';

export interface CutList {
  readonly path: string;
  readonly kept: number;
  readonly of: number;
}

export interface Cut {
  readonly note: string;
  readonly budgetBytes: number;
  readonly lists: CutList[];
  readonly runId?: string;
}

interface FoundList {
  readonly path: string;
  readonly list: unknown[];
  /** The object holding the list, and the one above it (a run, for `rowPage.rows`). */
  readonly holder: Record<string, unknown>;
  readonly above: Record<string, unknown> | null;
}

/** Room left for the cut note itself. */
const NOTE_BYTES = 1_024;

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/** Lists held by an object's property (a row, a list inside a list, is never cut itself), outermost first. */
function listsIn(data: Record<string, unknown>): FoundList[] {
  const found: FoundList[] = [];
  type Item = { value: unknown; path: string; holder: Record<string, unknown> | null; above: Record<string, unknown> | null; inList: boolean };
  const queue: Item[] = [{ value: data, path: '', holder: null, above: null, inList: false }];
  for (let i = 0; i < queue.length; i++) {
    const { value, path, holder, above, inList } = queue[i]!;
    if (Array.isArray(value)) {
      if (inList) continue;
      if (value.length > 0 && holder) found.push({ path, list: value, holder, above });
      value.forEach((item, j) => queue.push({ value: item, path: `${path}.${j}`, holder, above, inList: true }));
    } else if (value !== null && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      for (const [key, item] of Object.entries(obj)) queue.push({ value: item, path: path ? `${path}.${key}` : key, holder: obj, above: holder, inList: false });
    }
  }
  // Rows of runs go first, then the longest lists.
  return found.sort((a, b) => Number(b.path.endsWith('.rows')) - Number(a.path.endsWith('.rows')) || b.list.length - a.list.length);
}

/**
 * The data cut to fit `budget` bytes of structured content, or null when nothing fits even with
 * every list emptied. `data` is changed in place.
 */
export function fitToBudget(data: Record<string, unknown>, budget: number): { data: Record<string, unknown>; cut: Cut | null } | null {
  let total = bytesOf(data);
  if (total <= budget) return { data, cut: null };
  const target = Math.max(0, budget - NOTE_BYTES);
  const lists: CutList[] = [];
  let runId: string | undefined;
  let notKept = false;
  for (const found of listsIn(data)) {
    if (total <= target) break;
    // A list inside an item already cut away is gone with it.
    if (lists.some((l) => isUnderCut(found.path, l))) continue;
    const { list } = found;
    const sizes = list.map(bytesOf);
    // Keep the longest head that fits: drop items from the end (each with its comma).
    let keep = list.length;
    while (keep > 0 && total > target) {
      keep -= 1;
      total -= sizes[keep]! + (keep > 0 ? 1 : 0);
    }
    const of = list.length;
    const isPage = found.path.endsWith('rowPage.rows');
    list.length = keep;
    if (isPage) {
      // A run that says it was not kept (storedUntil: null) cannot be read again: its page is not moved there.
      if (found.above?.['storedUntil'] === null) notKept = true;
      else runId = movePageEnd(found, keep) ?? runId;
    }
    total = bytesOf(data);
    // The moved cursor is longer than the one it replaced: a row or two more may have to go.
    while (total > target && keep > 0) {
      keep -= 1;
      list.length = keep;
      if (isPage && found.above?.['storedUntil'] !== null) movePageEnd(found, keep);
      total = bytesOf(data);
    }
    lists.push({ path: found.path, kept: keep, of });
  }
  if (bytesOf(data) > target) return null;
  const shown = lists.map((l) => `${l.path}: ${l.kept} of ${l.of}`).join(', ');
  const note = `The result was larger than your role's budget of ${budget} bytes, so lists were cut from the end (${shown}).`
    + (runId ? ` Read the rest of run ${runId} with AgentReadRun (id: "${runId}", after: the page's endCursor).`
      : notKept ? ' The run was not kept, so its rest cannot be read later: run it again asking for fewer rows (`first`, `maxRows`).'
        : ' Ask for fewer items (`first`) or narrow the request.');
  return { data, cut: { note, budgetBytes: budget, lists, ...(runId ? { runId } : {}) } };
}

function isUnderCut(path: string, cut: CutList): boolean {
  if (!path.startsWith(`${cut.path}.`)) return false;
  return Number(path.slice(cut.path.length + 1).split('.')[0]) >= cut.kept;
}

/** A cut page of a run's rows ends at its last kept row: its cursor moves there, and more pages follow. */
function movePageEnd(found: FoundList, kept: number): string | undefined {
  const page = found.holder;
  const run = found.above;
  const runId = run && typeof run['id'] === 'string' ? run['id'] : undefined;
  const start = typeof page['startRow'] === 'number' ? page['startRow'] : undefined;
  if (!runId || start === undefined) return runId;
  const last = start + kept - 1;
  page['endCursor'] = last >= 0 ? encodeCursor(runId, last) : null;
  page['hasNextPage'] = true;
  return runId;
}

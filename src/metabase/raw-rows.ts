/**
 * A query run's rows kept as the JSON text Metabase sent, never parsed into objects: they are the bulk
 * of every run (2,000 rows is about 100 KB), and the gateway only passes them on. Parsing them made
 * tens of thousands of objects per dashboard for the collector, and encoding them again cost as much
 * as parsing. The body is still checked whole, as strictly as JSON.parse checks it (so a client never
 * receives invalid JSON, and every row is an array): a row of plain values by one compiled expression
 * of JSON's grammar, anything else by a pass without recursion. The rest of the body (columns,
 * status, times) is parsed as usual.
 *
 * On the way out, `stringifyWithRawJson` (Apollo's `stringifyResult`) splices each run's text into
 * the response; anything else that encodes a result (JSON.stringify) gets the rows parsed.
 */
import { randomBytes } from 'node:crypto';

/** Deeper bodies are parsed the ordinary way (JSON.parse); no real answer nests this deep. */
const MAX_DEPTH = 512;

/** JSON text that is already valid and is written out as it is. */
export class RawJson {
  constructor(readonly text: string) {}

  /** The value itself, for anything that encodes it without `stringifyWithRawJson`. */
  toJSON(): unknown {
    return splicing ? splicing.add(this.text) : JSON.parse(this.text);
  }
}

/** A run's rows: a window on the body's text, with where each row ends so they can be cut to `maxRows`. */
export class RawRows {
  constructor(
    private readonly body: string,
    private readonly start: number,
    private readonly end: number,
    /** The index of the `,` or `]` after each row. */
    private readonly rowEnds: readonly number[],
  ) {}

  get length(): number {
    return this.rowEnds.length;
  }

  /** `count` rows from row `from` (default: all from the first), as JSON text. */
  json(count = this.rowEnds.length, from = 0): RawJson {
    const n = this.rowEnds.length;
    const first = Math.max(0, Math.min(from, n));
    const last = Math.min(n, first + Math.max(0, count));
    if (first >= last) return new RawJson('[]');
    if (first === 0 && last === n) return new RawJson(this.body.slice(this.start, this.end));
    // A row starts after the `[` opening the rows, or after the `,` ending the row before it.
    const begin = first === 0 ? this.start + 1 : this.rowEnds[first - 1]! + 1;
    return new RawJson(`[${this.body.slice(begin, this.rowEnds[last - 1])}]`);
  }

  /** The rows parsed (for callers that want values, not text). */
  parse(): unknown[][] {
    return JSON.parse(this.body.slice(this.start, this.end)) as unknown[][];
  }
}

/** The spliced texts of one `stringifyWithRawJson` call, while it runs (JSON.stringify is synchronous). */
let splicing: { add(text: string): string } | undefined;
/** Makes placeholders no value can spell: a string holding them would need this process's nonce. */
const NONCE = randomBytes(12).toString('hex');
const PLACEHOLDER = new RegExp(`"\\\\u0000${NONCE}:(\\d+)"`, 'g');

/**
 * JSON.stringify, with each RawJson's text spliced in where it stands. A RawJson first becomes a
 * placeholder string starting with NUL, which JSON.stringify always writes escaped (`\u0000`), so
 * no other string in the value can look like one.
 */
export function stringifyWithRawJson(value: unknown): string {
  const texts: string[] = [];
  splicing = { add: (text) => `\u0000${NONCE}:${texts.push(text) - 1}` };
  let out: string;
  try {
    out = JSON.stringify(value);
  } finally {
    splicing = undefined;
  }
  return texts.length ? out.replace(PLACEHOLDER, (_, i: string) => texts[Number(i)]!) : out;
}

export interface ScannedRun {
  /** The body parsed, with `data.rows` an empty array. */
  readonly rest: unknown;
  readonly rows: RawRows;
}

// Character codes.
const TAB = 9, NEWLINE = 10, RETURN = 13, SPACE = 32, QUOTE = 34, PLUS = 43, COMMA = 44, MINUS = 45, DOT = 46, SLASH = 47;
const ZERO = 48, NINE = 57, COLON = 58, UPPER_A = 65, UPPER_E = 69, UPPER_F = 70, OPEN_BRACKET = 91, BACKSLASH = 92, CLOSE_BRACKET = 93;
const LOWER_A = 97, LOWER_B = 98, LOWER_E = 101, LOWER_F = 102, LOWER_N = 110, LOWER_R = 114, LOWER_T = 116, LOWER_U = 117;
const OPEN_BRACE = 123, CLOSE_BRACE = 125;

/** A JSON string, number or literal, exactly as JSON's grammar has them. */
const SCALAR = '(?:"(?:[^"\\\\\\u0000-\\u001f]|\\\\(?:["\\\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)';
const WS = '[ \\t\\n\\r]*';
/** A row holding no array or object: `[` scalars separated by commas `]`, whitespace where JSON allows it. */
const FLAT_ROW = new RegExp(`\\[${WS}(?:${SCALAR}${WS}(?:,${WS}${SCALAR}${WS})*)?\\]`, 'y');

const OBJECT = 1;
const ARRAY = 2;

class Invalid extends SyntaxError {
  constructor(at: number) {
    super(`Unexpected token in JSON at position ${at}`);
  }
}

/**
 * Checks a run's body as JSON, in one pass without recursion, and finds `data.rows` in it. Returns
 * null when the body has no single `data.rows` array (or nests deeper than 512): the caller then
 * parses it the ordinary way. Throws a SyntaxError when it is not JSON, or a row is not an array.
 */
export function scanRunBody(text: string): ScannedRun | null {
  const n = text.length;
  const kinds: number[] = [];
  /** The key being read at each object depth, kept only for depths 1 and 2 (`data`, `rows`). */
  const keys: (string | null)[] = [];
  let rowsStart = -1;
  let rowsEnd = -1;
  let inRows = false;
  let found = 0;
  /** `data` keys at the top, `rows` keys in `data`: JSON.parse keeps the last of duplicates, so more than one of either is left to it. */
  let dataKeys = 0;
  let rowsKeys = 0;
  const rowEnds: number[] = [];

  const ws = (i: number): number => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === SPACE || c === NEWLINE || c === RETURN || c === TAB) i++;
      else break;
    }
    return i;
  };
  const string = (i: number): number => {
    // i is at the opening quote.
    i++;
    for (;;) {
      if (i >= n) throw new Invalid(i);
      const c = text.charCodeAt(i);
      if (c === QUOTE) return i + 1;
      if (c < 0x20) throw new Invalid(i);
      if (c === BACKSLASH) {
        const e = text.charCodeAt(i + 1);
        if (e === LOWER_U) {
          for (let k = 2; k < 6; k++) {
            const h = text.charCodeAt(i + k);
            if (!((h >= ZERO && h <= NINE) || (h >= UPPER_A && h <= UPPER_F) || (h >= LOWER_A && h <= LOWER_F))) throw new Invalid(i + k);
          }
          i += 6;
        } else if (e === QUOTE || e === BACKSLASH || e === SLASH || e === LOWER_B || e === LOWER_F || e === LOWER_N || e === LOWER_R || e === LOWER_T) {
          i += 2;
        } else {
          throw new Invalid(i + 1);
        }
      } else {
        i++;
      }
    }
  };
  const digits = (i: number): number => {
    const from = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c >= ZERO && c <= NINE) i++;
      else break;
    }
    if (i === from) throw new Invalid(i);
    return i;
  };
  const number = (i: number): number => {
    if (text.charCodeAt(i) === MINUS) i++;
    if (text.charCodeAt(i) === ZERO) i++;
    else i = digits(i);
    if (text.charCodeAt(i) === DOT) i = digits(i + 1);
    const e = text.charCodeAt(i);
    if (e === LOWER_E || e === UPPER_E) {
      i++;
      const s = text.charCodeAt(i);
      if (s === PLUS || s === MINUS) i++;
      i = digits(i);
    }
    return i;
  };
  const literal = (i: number, word: string): number => {
    if (!text.startsWith(word, i)) throw new Invalid(i);
    return i + word.length;
  };

  let i = ws(0);
  // Reads one value at i; containers push and are closed in the loop below.
  for (;;) {
    // --- a value starts at i
    const depth = kinds.length;
    if (inRows && depth === 3 && text.charCodeAt(i) !== OPEN_BRACKET) throw new SyntaxError(`Metabase's rows must be arrays (at position ${i})`);
    const c = text.charCodeAt(i);
    if (inRows && depth === 3 && ((FLAT_ROW.lastIndex = i), FLAT_ROW.test(text))) {
      // A row of plain values (the usual row), checked whole by one compiled expression.
      i = FLAT_ROW.lastIndex;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth >= MAX_DEPTH) return null;
      if (c === OPEN_BRACKET && depth === 2 && kinds[0] === OBJECT && kinds[1] === OBJECT && keys[1] === 'data' && keys[2] === 'rows') {
        if (++found > 1) return null;
        inRows = true;
        rowsStart = i;
      }
      kinds.push(c === OPEN_BRACE ? OBJECT : ARRAY);
      i = ws(i + 1);
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      if (text.charCodeAt(i) === close) {
        i++;
        kinds.pop();
        if (inRows && kinds.length === 2) {
          inRows = false;
          rowsEnd = i;
        }
      } else if (c === OPEN_BRACE) {
        i = key(i);
        continue;
      } else {
        continue;
      }
    } else if (c === QUOTE) i = string(i);
    else if (c === MINUS || (c >= ZERO && c <= NINE)) i = number(i);
    else if (c === LOWER_T) i = literal(i, 'true');
    else if (c === LOWER_F) i = literal(i, 'false');
    else if (c === LOWER_N) i = literal(i, 'null');
    else throw new Invalid(i);
    // --- after a value: a comma, or the end of containers
    for (;;) {
      i = ws(i);
      if (kinds.length === 0) {
        if (i !== n) throw new Invalid(i);
        if (rowsStart < 0 || rowsEnd < 0 || dataKeys !== 1 || rowsKeys !== 1) return null;
        return { rest: JSON.parse(`${text.slice(0, rowsStart)}[]${text.slice(rowsEnd)}`), rows: new RawRows(text, rowsStart, rowsEnd, rowEnds) };
      }
      const top = kinds[kinds.length - 1];
      const d = text.charCodeAt(i);
      if (inRows && kinds.length === 3 && (d === COMMA || d === CLOSE_BRACKET)) rowEnds.push(i);
      if (d === COMMA) {
        i = ws(i + 1);
        if (top === OBJECT) i = key(i);
        break;
      }
      if ((d === CLOSE_BRACKET && top === ARRAY) || (d === CLOSE_BRACE && top === OBJECT)) {
        i++;
        kinds.pop();
        if (inRows && kinds.length === 2) {
          inRows = false;
          rowsEnd = i;
        }
        continue;
      }
      throw new Invalid(i);
    }
  }

  /** Reads `"key" :` at i (inside an object), remembering the key at depths 1 and 2; returns where its value starts. */
  function key(at: number): number {
    if (text.charCodeAt(at) !== QUOTE) throw new Invalid(at);
    const end = string(at);
    const depth = kinds.length;
    if (depth <= 2) {
      const name = text.slice(at + 1, end - 1);
      keys[depth] = name;
      if (depth === 1 && name === 'data') dataKeys++;
      if (depth === 2 && keys[1] === 'data' && name === 'rows') rowsKeys++;
    }
    const colon = ws(end);
    if (text.charCodeAt(colon) !== COLON) throw new Invalid(colon);
    return ws(colon + 1);
  }
}


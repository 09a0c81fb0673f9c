/**
 * Which parameter `type` a client may send for a declared tag / widget type (API-CONTRACT.md §5.2).
 *
 * The table is Metabase's `metabase.lib.schema.parameter/types` (`:allowed-for`), in its newest form, where
 * `number/>=` and `number/<=` are also allowed for a `number/between` widget (a between filter with one open end
 * is rewritten to them). The check exists for security: an exact-match card (`text`, `date`, …) must not accept a
 * `string/!=` value that would enumerate every row.
 *
 * "Declared type" is the tag `type` for a raw template tag, the `widget-type` for a dimension tag and the
 * dashboard parameter's `type` for a dashboard parameter; the caller picks which.
 */

const ZIP = 'location/zip_code';
const LOCATIONS = ['location/city', 'location/state', ZIP, 'location/country'] as const;

/**
 * Parameter type → the declared types it may be sent for. Kept in Metabase's declaration order so that a reader can
 * compare it line by line with the Clojure source.
 */
const ALLOWED_FOR: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  (
    [
      // Raw-value types: usable with raw template tags and with field filters.
      ['number', ['number', 'number/=', 'id', 'category', ZIP]],
      ['text', ['text', 'string/=', 'id', 'category', ...LOCATIONS]],
      ['date', ['date', 'date/single', 'date/all-options', 'id', 'category']],
      ['boolean', ['boolean', 'id', 'category', 'boolean/=']],
      ['date/single', ['date', 'date/single', 'date/all-options', 'id', 'category']],
      // Widget types that the frontend sometimes sends back as a parameter type.
      ['id', ['id']],
      ['category', ['category', 'number', 'text', 'date', 'boolean']],
      ['location/city', ['location/city']],
      ['location/state', ['location/state']],
      [ZIP, [ZIP]],
      ['location/country', ['location/country']],
      // Date ranges.
      ['date/range', ['date/range', 'date/all-options']],
      ['date/month-year', ['date/month-year', 'date/all-options']],
      ['date/quarter-year', ['date/quarter-year', 'date/all-options']],
      ['date/relative', ['date/relative', 'date/all-options']],
      ['date/all-options', ['date/all-options']],
      ['temporal-unit', ['temporal-unit']],
      // Operator types.
      ['number/!=', ['number/!=']],
      ['number/<=', ['number/<=', 'number/between']],
      ['number/=', ['number/=', 'number', 'id', 'category', ZIP]],
      ['number/>=', ['number/>=', 'number/between']],
      ['number/between', ['number/between']],
      ['string/!=', ['string/!=']],
      ['string/=', ['string/=', 'text', 'id', 'category', ...LOCATIONS]],
      ['string/contains', ['string/contains']],
      ['string/does-not-contain', ['string/does-not-contain']],
      ['string/ends-with', ['string/ends-with']],
      ['string/starts-with', ['string/starts-with']],
      ['boolean/=', ['boolean', 'boolean/=']],
    ] as const
  ).map(([type, allowed]) => [type, new Set<string>(allowed)]),
);

/** Every parameter type Metabase knows, in declaration order. */
export const PARAMETER_TYPES: readonly string[] = [...ALLOWED_FOR.keys()];

/**
 * Metabase normalizes a few legacy spellings of the sent type before checking it: `category/=` is `category`, and
 * Actions used to send base types such as `type/Text`, which become `text`.
 */
function normalizeSentType(t: string): string {
  if (t === 'category/=') return 'category';
  if (t.startsWith('type/')) return t.slice('type/'.length).toLowerCase();
  return t;
}

/** §5.2: may a parameter of type `sentType` be used for a tag / widget / dashboard parameter of `declaredType`? */
export function isParameterTypeAllowed(sentType: string, declaredType: string): boolean {
  return ALLOWED_FOR.get(normalizeSentType(sentType))?.has(declaredType) ?? false;
}

/**
 * The parameter types allowed for `declaredType`, for the "Parameter type must be one of: …" message, sorted as
 * Clojure sorts keywords: names without a namespace first (`category`, `id`, `text`), then by namespace and name
 * (`location/city`, `string/=`). Metabase prints them as keywords (`:category, :string/=`); the caller adds the
 * colons if it wants that exact text.
 */
export function allowedTypesFor(declaredType: string): string[] {
  const allowed = PARAMETER_TYPES.filter((t) => ALLOWED_FOR.get(t)!.has(declaredType));
  return allowed.sort(compareAsKeywords);
}

function compareAsKeywords(a: string, b: string): number {
  const [nsA, nameA] = splitKeyword(a);
  const [nsB, nameB] = splitKeyword(b);
  if (nsA !== nsB) {
    if (nsA === null) return -1;
    if (nsB === null) return 1;
    return nsA < nsB ? -1 : 1;
  }
  return nameA < nameB ? -1 : nameA > nameB ? 1 : 0;
}

function splitKeyword(k: string): [string | null, string] {
  const i = k.indexOf('/');
  return i < 0 ? [null, k] : [k.slice(0, i), k.slice(i + 1)];
}

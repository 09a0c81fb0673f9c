/**
 * Builds the Sample Database (API-CONTRACT.md §8) in memory: the tables of SAMPLE_TABLES filled with fake but
 * plausible rows. Everything comes from a seeded PRNG and fixed dates, never from the clock, so one seed always
 * gives the same bytes. All names, e-mail domains (reserved `example.*`) and URLs are made up.
 */
import Database from 'better-sqlite3';
import { createRandom, type Random } from './random.js';
import { SAMPLE_ROW_COUNTS, SAMPLE_TABLES, SQLITE_TYPES, type TableDef } from './sample-schema.js';

const ADJECTIVES = ['Aerodynamic', 'Durable', 'Enormous', 'Ergonomic', 'Fantastic', 'Gorgeous', 'Heavy-Duty',
  'Incredible', 'Intelligent', 'Lightweight', 'Mediocre', 'Practical', 'Rustic', 'Sleek', 'Small', 'Synergistic'];
const MATERIALS = ['Aluminum', 'Bronze', 'Concrete', 'Copper', 'Cotton', 'Granite', 'Iron', 'Leather', 'Linen',
  'Marble', 'Paper', 'Plastic', 'Rubber', 'Silk', 'Steel', 'Wool', 'Wooden'];
const NOUNS = ['Bag', 'Bench', 'Bottle', 'Car', 'Chair', 'Clock', 'Coat', 'Computer', 'Gloves', 'Hat', 'Keyboard',
  'Knife', 'Lamp', 'Pants', 'Plate', 'Shirt', 'Shoes', 'Table', 'Wallet', 'Watch'];
const CATEGORIES = ['Doohickey', 'Gadget', 'Gizmo', 'Widget'];
const COMPANY_SUFFIXES = ['Group', 'and Sons', 'LLC', 'Inc', 'Ltd', 'Brothers', 'Partners', 'Supply Co'];
const FIRST_NAMES = ['Aaliyah', 'Alfonso', 'Amara', 'Bennett', 'Bettie', 'Callie', 'Dariel', 'Delphine', 'Emmett',
  'Esperanza', 'Fletcher', 'Gideon', 'Harriet', 'Ignatius', 'Imogen', 'Jasper', 'Juniper', 'Kendrick', 'Lavinia',
  'Leopold', 'Marisol', 'Montgomery', 'Nadia', 'Octavia', 'Percival', 'Quincy', 'Rosalind', 'Sebastian', 'Tamsin',
  'Thaddeus', 'Ulrich', 'Valentina', 'Winifred', 'Xander', 'Yolanda', 'Zebulon'];
const LAST_NAMES = ['Abernathy', 'Balistreri', 'Bergstrom', 'Cormier', 'Dach', 'Ebert', 'Feeney', 'Gleichner',
  'Haag', 'Hettinger', 'Jaskolski', 'Kihn', 'Kuhlman', 'Lesch', 'Mertz', 'Nitzsche', 'Okuneva', "O'Keefe",
  'Pfannerstill', 'Quigley', 'Runolfsdottir', 'Schinner', 'Schowalter', 'Stiedemann', 'Torphy', 'Upton',
  'Veum', 'Wintheiser', 'Wuckert', 'Zboncak'];
const EMAIL_DOMAINS = ['example.com', 'example.net', 'example.org', 'example.test'];
const STREETS = ['Oak', 'Maple', 'Cedar', 'Willow', 'Meadow', 'Harbor', 'Sunset', 'Lakeview', 'Hillcrest', 'Ridge'];
const STREET_KINDS = ['Street', 'Avenue', 'Road', 'Lane', 'Drive', 'Court', 'Way'];
/** City, state, latitude, longitude, first three ZIP digits: real places, so maps and ZIPs look right. */
const US_PLACES: readonly (readonly [string, string, number, number, string])[] = [
  ['Portland', 'OR', 45.52, -122.68, '972'], ['Seattle', 'WA', 47.61, -122.33, '981'],
  ['Boise', 'ID', 43.62, -116.2, '837'], ['Sacramento', 'CA', 38.58, -121.49, '958'],
  ['Phoenix', 'AZ', 33.45, -112.07, '850'], ['Denver', 'CO', 39.74, -104.99, '802'],
  ['Austin', 'TX', 30.27, -97.74, '787'], ['Houston', 'TX', 29.76, -95.37, '770'],
  ['Omaha', 'NE', 41.26, -95.93, '681'], ['Chicago', 'IL', 41.88, -87.63, '606'],
  ['Nashville', 'TN', 36.16, -86.78, '372'], ['Atlanta', 'GA', 33.75, -84.39, '303'],
  ['Orlando', 'FL', 28.54, -81.38, '328'], ['Columbus', 'OH', 39.96, -83.0, '432'],
  ['Pittsburgh', 'PA', 40.44, -79.99, '152'], ['Albany', 'NY', 42.65, -73.75, '122'],
  ['Burlington', 'VT', 44.48, -73.21, '054'], ['Raleigh', 'NC', 35.78, -78.64, '276'],
];
const SOURCES = ['Affiliate', 'Facebook', 'Google', 'Organic', 'Twitter'];
const PLANS = ['Basic', 'Business', 'Premium'];
const PLAN_SEAT_PRICE: Record<string, number> = { Basic: 8, Business: 20, Premium: 45 };
/** Country code with a rough centre; accounts are spread around it. */
const COUNTRIES: readonly (readonly [string, number, number])[] = [
  ['US', 39.8, -98.6], ['CA', 52.0, -106.3], ['GB', 53.5, -2.0], ['DE', 51.2, 10.5], ['FR', 46.2, 2.2],
  ['NL', 52.1, 5.3], ['SE', 60.1, 16.6], ['BR', -14.2, -51.9], ['MX', 23.6, -102.6], ['IN', 20.6, 78.9],
  ['JP', 36.2, 138.3], ['AU', -25.3, 133.8],
];
/** Repeats weight the pick: page views are the most common event. */
const EVENTS = ['Page Viewed', 'Button Clicked', 'Page Viewed', 'Form Submitted', 'Button Clicked', 'Page Viewed'];
const PAGES = ['', 'pricing', 'features', 'docs', 'blog', 'signup', 'login', 'settings', 'billing', 'dashboard'];
const BUTTONS = ['Sign Up', 'Start Trial', 'Upgrade', 'Contact Sales', 'Learn More', 'Download', 'Invite Team'];
/** Reviews lean positive, as shop reviews do. */
const REVIEW_RATINGS = [1, 2, 3, 4, 4, 5, 5, 5];
const RATING_WORDS = ['Bad', 'Poor', 'Fair', 'Good', 'Great'];
/** Sentences by rating (index 0 is a rating of 1), so a text matches its score. */
const OPINIONS = [
  ['It broke within a week.', 'Not worth the money at all.', 'I want a refund.'],
  ['It works, barely.', 'Disappointing for the price.', 'The quality is lower than I hoped.'],
  ['It does the job.', 'Nothing special, nothing wrong.', 'Average in every way.'],
  ['Solid and well made.', 'Does what it promises.', 'I would buy it again.'],
  ['Absolutely love it!', 'Best purchase I made this year.', 'Exceeded every expectation.'],
];
const ASIDES = ['Shipping was quick.', 'The packaging was a bit much.', 'My cat seems to like it too.',
  'Support answered within a day.', 'Setup took a few minutes.', 'The color is slightly off from the photos.'];

type Value = string | number | null;
type Row = Record<string, Value>;

const DAY = 86_400_000;
const FIRST_MOMENT = Date.UTC(2022, 3, 30);
const LAST_MOMENT = Date.UTC(2026, 3, 19) + DAY - 1;

const iso = (ms: number): string => new Date(ms).toISOString();
const round2 = (x: number): number => Math.round(x * 100) / 100;
const moment = (r: Random, from = FIRST_MOMENT, to = LAST_MOMENT): number => r.int(from, to);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const hex = (r: Random, n: number): string => Array.from({ length: n }, () => r.int(0, 15).toString(16)).join('');
const body = (r: Random, rating: number): string =>
  r.chance(0.6) ? `${r.pick(OPINIONS[rating - 1]!)} ${r.pick(ASIDES)}` : r.pick(OPINIONS[rating - 1]!);

/** EAN-13 with a valid check digit, so the codes survive any validator a client might run. */
function ean13(r: Random): string {
  const digits = Array.from({ length: 12 }, () => r.int(0, 9));
  const sum = digits.reduce((s, d, i) => s + d * (i % 2 ? 3 : 1), 0);
  return digits.join('') + ((10 - (sum % 10)) % 10);
}

function uniqueEmail(r: Random, taken: Set<string>, first: string, last: string): string {
  const local = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '');
  const domain = r.pick(EMAIL_DOMAINS);
  let email = `${local}@${domain}`;
  for (let n = 2; taken.has(email); n++) email = `${local}${n}@${domain}`;
  taken.add(email);
  return email;
}

function products(r: Random): Row[] {
  return range(SAMPLE_ROW_COUNTS.PRODUCTS).map((ID) => ({
    ID, EAN: ean13(r), TITLE: `${r.pick(ADJECTIVES)} ${r.pick(MATERIALS)} ${r.pick(NOUNS)}`,
    // The first four rows take one category each so that every category exists whatever the seed.
    CATEGORY: ID <= CATEGORIES.length ? CATEGORIES[ID - 1]! : r.pick(CATEGORIES),
    VENDOR: r.chance(0.5) ? `${r.pick(LAST_NAMES)} ${r.pick(COMPANY_SUFFIXES)}`
      : `${r.pick(LAST_NAMES)}, ${r.pick(LAST_NAMES)} and ${r.pick(LAST_NAMES)}`,
    PRICE: r.float(15, 100, 2), RATING: r.float(0, 5, 1),
    CREATED_AT: iso(moment(r, FIRST_MOMENT, LAST_MOMENT - 180 * DAY)),
  }));
}

function people(r: Random): Row[] {
  const taken = new Set<string>();
  return range(SAMPLE_ROW_COUNTS.PEOPLE).map((ID) => {
    const [first, last] = [r.pick(FIRST_NAMES), r.pick(LAST_NAMES)];
    const [city, state, lat, lon, zip] = r.pick(US_PLACES);
    return {
      ID, ADDRESS: `${r.int(1, 9999)} ${r.pick(STREETS)} ${r.pick(STREET_KINDS)}`,
      EMAIL: uniqueEmail(r, taken, first, last),
      PASSWORD: `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-${hex(r, 4)}-${hex(r, 12)}`,
      NAME: `${first} ${last}`, CITY: city, LONGITUDE: r.float(lon - 0.3, lon + 0.3, 6), STATE: state,
      SOURCE: r.pick(SOURCES),
      BIRTH_DATE: iso(moment(r, Date.UTC(1960, 0, 1), Date.UTC(2005, 11, 31))).slice(0, 10),
      ZIP: `${zip}${String(r.int(1, 99)).padStart(2, '0')}`, LATITUDE: r.float(lat - 0.3, lat + 0.3, 6),
      CREATED_AT: iso(moment(r, FIRST_MOMENT, LAST_MOMENT - 90 * DAY)),
    };
  });
}

function orders(r: Random, productRows: Row[], peopleRows: Row[]): Row[] {
  // Metabase's data has 929 distinct buyers, so most people never order; the first 200 orders cover every product.
  const buyers = r.shuffle(range(peopleRows.length)).slice(0, 929);
  const firstProducts = r.shuffle(range(productRows.length));
  return range(SAMPLE_ROW_COUNTS.ORDERS).map((ID) => {
    const USER_ID = r.pick(buyers);
    const PRODUCT_ID = firstProducts[ID - 1] ?? r.int(1, productRows.length);
    const product = productRows[PRODUCT_ID - 1]!;
    // Prices drift after a product launches, so the order price is the list price times 1 to 1.5.
    const SUBTOTAL = round2((product.PRICE as number) * r.float(1, 1.5, 3));
    const TAX = round2(SUBTOTAL * r.float(0.04, 0.08, 3));
    const DISCOUNT = r.chance(0.1) ? r.float(0.5, SUBTOTAL * 0.3, 2) : null;
    const earliest = Math.max(Date.parse(product.CREATED_AT as string),
      Date.parse(peopleRows[USER_ID - 1]!.CREATED_AT as string));
    return {
      ID, USER_ID, PRODUCT_ID, SUBTOTAL, TAX, TOTAL: round2(SUBTOTAL + TAX - (DISCOUNT ?? 0)), DISCOUNT,
      CREATED_AT: iso(moment(r, earliest)),
      QUANTITY: r.chance(0.03) ? r.int(0, 100) : r.int(1, 9),
    };
  });
}

function reviews(r: Random, productRows: Row[]): Row[] {
  return range(SAMPLE_ROW_COUNTS.REVIEWS).map((ID) => {
    const PRODUCT_ID = r.int(1, productRows.length);
    const RATING = r.pick(REVIEW_RATINGS);
    const handle = `${r.pick(FIRST_NAMES)}${r.pick(['', '.', '_'])}${r.pick(LAST_NAMES)}`;
    return {
      ID, PRODUCT_ID, REVIEWER: (handle + (r.chance(0.4) ? r.int(1, 99) : '')).toLowerCase().replace(/'/g, ''),
      RATING, BODY: body(r, RATING),
      CREATED_AT: iso(moment(r, Date.parse(productRows[PRODUCT_ID - 1]!.CREATED_AT as string))),
    };
  });
}

function accounts(r: Random): Row[] {
  const taken = new Set<string>();
  return range(SAMPLE_ROW_COUNTS.ACCOUNTS).map((ID) => {
    const [FIRST_NAME, LAST_NAME, PLAN] = [r.pick(FIRST_NAMES), r.pick(LAST_NAMES), r.pick(PLANS)];
    const created = moment(r, FIRST_MOMENT, LAST_MOMENT - 60 * DAY);
    const trialEnds = created + 14 * DAY;
    const converted = r.chance(0.7);
    const canceled = r.chance(converted ? 0.1 : 0.4) ? moment(r, trialEnds) : null;
    const [COUNTRY, lat, lon] = r.chance(0.4) ? COUNTRIES[0]! : r.pick(COUNTRIES);
    return {
      ID, EMAIL: uniqueEmail(r, taken, FIRST_NAME, LAST_NAME), FIRST_NAME, LAST_NAME, PLAN,
      SOURCE: r.pick(SOURCES), SEATS: PLAN === 'Basic' ? r.int(1, 10) : PLAN === 'Business' ? r.int(5, 50) : r.int(20, 200),
      CREATED_AT: iso(created), TRIAL_ENDS_AT: iso(trialEnds), CANCELED_AT: canceled === null ? null : iso(canceled),
      TRIAL_CONVERTED: converted ? 1 : 0, ACTIVE_SUBSCRIPTION: converted && canceled === null ? 1 : 0,
      LEGACY_PLAN: r.chance(0.1) ? 1 : 0,
      LATITUDE: r.float(lat - 3, lat + 3, 4), LONGITUDE: r.float(lon - 3, lon + 3, 4), COUNTRY,
    };
  });
}

function analyticEvents(r: Random, accountRows: Row[]): Row[] {
  return range(SAMPLE_ROW_COUNTS.ANALYTIC_EVENTS).map((ID) => {
    const ACCOUNT_ID = r.int(1, accountRows.length);
    const EVENT = r.pick(EVENTS);
    return {
      ID, ACCOUNT_ID, EVENT,
      TIMESTAMP: iso(moment(r, Date.parse(accountRows[ACCOUNT_ID - 1]!.CREATED_AT as string))),
      PAGE_URL: `https://www.example.test/${r.pick(PAGES)}`,
      BUTTON_LABEL: EVENT === 'Button Clicked' ? r.pick(BUTTONS) : null,
    };
  });
}

function feedback(r: Random, accountRows: Row[]): Row[] {
  return range(SAMPLE_ROW_COUNTS.FEEDBACK).map((ID) => {
    const account = accountRows[r.int(0, accountRows.length - 1)]!;
    const RATING = r.int(1, 5);
    return {
      ID, ACCOUNT_ID: account.ID!, EMAIL: account.EMAIL!,
      DATE_RECEIVED: iso(moment(r, Date.parse(account.CREATED_AT as string))),
      RATING, RATING_MAPPED: RATING_WORDS[RATING - 1]!, BODY: body(r, RATING),
    };
  });
}

function invoices(r: Random, accountRows: Row[]): Row[] {
  return range(SAMPLE_ROW_COUNTS.INVOICES).map((ID) => {
    const account = accountRows[r.int(0, accountRows.length - 1)]!;
    const perSeat = PLAN_SEAT_PRICE[account.PLAN as string]!;
    return {
      ID, ACCOUNT_ID: account.ID!, PAYMENT: round2((account.SEATS as number) * perSeat * r.float(0.8, 1.2, 3)),
      EXPECTED_INVOICE: r.chance(0.9) ? 1 : 0, PLAN: account.PLAN!,
      DATE_RECEIVED: iso(moment(r, Date.parse(account.TRIAL_ENDS_AT as string))),
    };
  });
}

function createTable(db: Database.Database, table: TableDef, rows: Row[]): void {
  const names = table.columns.map((col) => col.name);
  const columns = table.columns.map((col) =>
    `"${col.name}" ${col.name === 'ID' ? 'INTEGER PRIMARY KEY' : SQLITE_TYPES[col.baseType]}`);
  db.exec(`CREATE TABLE "${table.name}" (${columns.join(', ')})`);
  const insert = db.prepare(
    `INSERT INTO "${table.name}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map((n) => `@${n}`).join(', ')})`);
  for (const row of rows) insert.run(row);
}

export function createSampleDatabase(options: { seed?: number } = {}): Database.Database {
  const seed = options.seed ?? 20260301;
  // One generator per table, so changing how one table is built does not reshuffle all the others.
  const rnd = (name: string): Random =>
    createRandom(seed ^ Math.imul(SAMPLE_TABLES.find((t) => t.name === name)!.id, 0x9e3779b1));
  const P = products(rnd('PRODUCTS'));
  const U = people(rnd('PEOPLE'));
  const A = accounts(rnd('ACCOUNTS'));
  const data: Record<string, Row[]> = {
    PRODUCTS: P, PEOPLE: U, ORDERS: orders(rnd('ORDERS'), P, U), REVIEWS: reviews(rnd('REVIEWS'), P),
    ACCOUNTS: A, ANALYTIC_EVENTS: analyticEvents(rnd('ANALYTIC_EVENTS'), A),
    FEEDBACK: feedback(rnd('FEEDBACK'), A), INVOICES: invoices(rnd('INVOICES'), A),
  };
  const db = new Database(':memory:');
  db.transaction(() => {
    for (const table of SAMPLE_TABLES) createTable(db, table, data[table.name]!);
  })();
  // Users' native SQL runs against this database; it must not be able to change the data.
  db.pragma('query_only = ON');
  return db;
}

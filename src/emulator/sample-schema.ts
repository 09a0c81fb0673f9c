/**
 * The Sample Database's tables and columns, in the order Metabase syncs them (API-CONTRACT.md §8).
 * Table ids follow a fresh recent instance (ANALYTIC_EVENTS 1 … PRODUCTS 8); field ids are given in
 * table-id order, then column order, starting at 1. Clients must never rely on these ids: they are
 * stable only within one emulator build, as in Metabase.
 */

export type BaseType =
  | 'type/BigInteger'
  | 'type/Integer'
  | 'type/Float'
  | 'type/Text'
  | 'type/DateTime'
  | 'type/Date'
  | 'type/Boolean';

export interface ColumnDef {
  readonly name: string;
  readonly baseType: BaseType;
  readonly semanticType: string | null;
  /** `TABLE.COLUMN` this column references, for foreign keys. */
  readonly fkTarget?: string;
}

export interface TableDef {
  readonly id: number;
  readonly name: string;
  readonly displayName: string;
  readonly entityType: string;
  readonly description: string;
  readonly columns: readonly ColumnDef[];
}

export interface FieldDef extends ColumnDef {
  readonly id: number;
  readonly tableId: number;
  readonly tableName: string;
  readonly position: number;
  readonly displayName: string;
  readonly databaseType: string;
}

const c = (name: string, baseType: BaseType, semanticType: string | null = null, fkTarget?: string): ColumnDef =>
  fkTarget ? { name, baseType, semanticType, fkTarget } : { name, baseType, semanticType };

const PK = 'type/PK';
const FK = 'type/FK';

export const SAMPLE_TABLES: readonly TableDef[] = [
  {
    id: 1, name: 'ANALYTIC_EVENTS', displayName: 'Analytic Events', entityType: 'entity/EventTable',
    description: 'Page views and button clicks of the accounts using the product.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('ACCOUNT_ID', 'type/BigInteger', FK, 'ACCOUNTS.ID'),
      c('EVENT', 'type/Text', 'type/Category'), c('TIMESTAMP', 'type/DateTime'),
      c('PAGE_URL', 'type/Text', 'type/URL'), c('BUTTON_LABEL', 'type/Text', 'type/Category'),
    ],
  },
  {
    id: 2, name: 'FEEDBACK', displayName: 'Feedback', entityType: 'entity/GenericTable',
    description: 'Product feedback sent by accounts.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('ACCOUNT_ID', 'type/BigInteger', FK, 'ACCOUNTS.ID'),
      c('EMAIL', 'type/Text', 'type/Email'), c('DATE_RECEIVED', 'type/DateTime'),
      c('RATING', 'type/Integer', 'type/Score'), c('RATING_MAPPED', 'type/Text', 'type/Category'), c('BODY', 'type/Text'),
    ],
  },
  {
    id: 3, name: 'PEOPLE', displayName: 'People', entityType: 'entity/UserTable',
    description: 'The people who placed orders.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('ADDRESS', 'type/Text'), c('EMAIL', 'type/Text', 'type/Email'),
      c('PASSWORD', 'type/Text'), c('NAME', 'type/Text', 'type/Name'), c('CITY', 'type/Text', 'type/City'),
      c('LONGITUDE', 'type/Float', 'type/Longitude'), c('STATE', 'type/Text', 'type/State'),
      c('SOURCE', 'type/Text', 'type/Source'), c('BIRTH_DATE', 'type/Date'), c('ZIP', 'type/Text', 'type/ZipCode'),
      c('LATITUDE', 'type/Float', 'type/Latitude'), c('CREATED_AT', 'type/DateTime', 'type/CreationTimestamp'),
    ],
  },
  {
    id: 4, name: 'REVIEWS', displayName: 'Reviews', entityType: 'entity/GenericTable',
    description: 'Reviews that people wrote of products.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('PRODUCT_ID', 'type/Integer', FK, 'PRODUCTS.ID'), c('REVIEWER', 'type/Text'),
      c('RATING', 'type/Integer', 'type/Score'), c('BODY', 'type/Text', 'type/Description'),
      c('CREATED_AT', 'type/DateTime', 'type/CreationTimestamp'),
    ],
  },
  {
    id: 5, name: 'ORDERS', displayName: 'Orders', entityType: 'entity/TransactionTable',
    description: 'Every order placed, with its products and prices.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('USER_ID', 'type/Integer', FK, 'PEOPLE.ID'),
      c('PRODUCT_ID', 'type/Integer', FK, 'PRODUCTS.ID'), c('SUBTOTAL', 'type/Float'), c('TAX', 'type/Float'),
      c('TOTAL', 'type/Float'), c('DISCOUNT', 'type/Float', 'type/Discount'),
      c('CREATED_AT', 'type/DateTime', 'type/CreationTimestamp'), c('QUANTITY', 'type/Integer', 'type/Quantity'),
    ],
  },
  {
    id: 6, name: 'ACCOUNTS', displayName: 'Accounts', entityType: 'entity/UserTable',
    description: 'Accounts of the company\'s own product.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('EMAIL', 'type/Text', 'type/Email'), c('FIRST_NAME', 'type/Text', 'type/Name'),
      c('LAST_NAME', 'type/Text', 'type/Name'), c('PLAN', 'type/Text', 'type/Category'),
      c('SOURCE', 'type/Text', 'type/Source'), c('SEATS', 'type/Integer'),
      c('CREATED_AT', 'type/DateTime', 'type/CreationTimestamp'), c('TRIAL_ENDS_AT', 'type/DateTime'),
      c('CANCELED_AT', 'type/DateTime', 'type/CancelationTimestamp'), c('TRIAL_CONVERTED', 'type/Boolean'),
      c('ACTIVE_SUBSCRIPTION', 'type/Boolean'), c('LEGACY_PLAN', 'type/Boolean'),
      c('LATITUDE', 'type/Float', 'type/Latitude'), c('LONGITUDE', 'type/Float', 'type/Longitude'),
      c('COUNTRY', 'type/Text', 'type/Country'),
    ],
  },
  {
    id: 7, name: 'INVOICES', displayName: 'Invoices', entityType: 'entity/GenericTable',
    description: 'Invoices sent to accounts.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('ACCOUNT_ID', 'type/BigInteger', FK, 'ACCOUNTS.ID'), c('PAYMENT', 'type/Float'),
      c('EXPECTED_INVOICE', 'type/Boolean'), c('PLAN', 'type/Text', 'type/Category'), c('DATE_RECEIVED', 'type/DateTime'),
    ],
  },
  {
    id: 8, name: 'PRODUCTS', displayName: 'Products', entityType: 'entity/ProductTable',
    description: 'The products the company sells.',
    columns: [
      c('ID', 'type/BigInteger', PK), c('EAN', 'type/Text'), c('TITLE', 'type/Text', 'type/Title'),
      c('CATEGORY', 'type/Text', 'type/Category'), c('VENDOR', 'type/Text', 'type/Company'), c('PRICE', 'type/Float'),
      c('RATING', 'type/Float', 'type/Score'), c('CREATED_AT', 'type/DateTime', 'type/CreationTimestamp'),
    ],
  },
];

/** The database type Metabase reports for each base type (H2 names, as released Metabase shows them). */
const DATABASE_TYPES: Record<BaseType, string> = {
  'type/BigInteger': 'BIGINT',
  'type/Integer': 'INTEGER',
  'type/Float': 'DOUBLE PRECISION',
  'type/Text': 'CHARACTER VARYING',
  'type/DateTime': 'TIMESTAMP',
  'type/Date': 'DATE',
  'type/Boolean': 'BOOLEAN',
};

/** SQLite column affinity used when the emulator creates each table. */
export const SQLITE_TYPES: Record<BaseType, string> = {
  'type/BigInteger': 'INTEGER',
  'type/Integer': 'INTEGER',
  'type/Float': 'REAL',
  'type/Text': 'TEXT',
  'type/DateTime': 'TEXT',
  'type/Date': 'TEXT',
  'type/Boolean': 'INTEGER',
};

const displayName = (name: string): string =>
  name.toLowerCase().split('_').map((w) => (w === 'id' ? 'ID' : w[0]!.toUpperCase() + w.slice(1))).join(' ');

export const SAMPLE_FIELDS: readonly FieldDef[] = (() => {
  let id = 0;
  return SAMPLE_TABLES.flatMap((t) =>
    t.columns.map((col, position) => ({
      ...col,
      id: ++id,
      tableId: t.id,
      tableName: t.name,
      position,
      displayName: displayName(col.name),
      databaseType: DATABASE_TYPES[col.baseType],
    })),
  );
})();

export const tableByName = (name: string): TableDef | undefined =>
  SAMPLE_TABLES.find((t) => t.name === name.toUpperCase());

export const tableById = (id: number): TableDef | undefined => SAMPLE_TABLES.find((t) => t.id === id);

export const fieldById = (id: number): FieldDef | undefined => SAMPLE_FIELDS.find((f) => f.id === id);

export function fieldByName(table: string, column: string): FieldDef {
  const f = SAMPLE_FIELDS.find((x) => x.tableName === table && x.name === column);
  if (!f) throw new TypeError(`sample schema has no column ${table}.${column}`);
  return f;
}

/** Row counts. The first four are Metabase's own; the last four are the emulator's choice. */
export const SAMPLE_ROW_COUNTS = {
  PRODUCTS: 200,
  PEOPLE: 2_500,
  ORDERS: 18_760,
  REVIEWS: 1_112,
  ACCOUNTS: 2_000,
  ANALYTIC_EVENTS: 6_000,
  FEEDBACK: 750,
  INVOICES: 4_000,
} as const;

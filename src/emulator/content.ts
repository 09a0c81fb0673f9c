/**
 * The emulator's instance content: groups, people, collections, questions and dashboards, with the
 * group permissions that decide who sees what. Written as data so that tests and the README can point
 * at it; every id here is the id the emulator serves.
 */
import { fieldByName } from './sample-schema.js';

export const SAMPLE_DATABASE_ID = 1;

export type CollectionPermission = 'write' | 'read' | 'none';
export type ViewData = 'unrestricted' | 'blocked';
export type CreateQueries = 'query-builder-and-native' | 'query-builder' | 'no';

export interface GroupDef {
  readonly id: number;
  readonly name: string;
  readonly slug: string;
  readonly magicGroupType: string | null;
  /** Collection id (or 'root') → permission. Missing means none. */
  readonly collections: Readonly<Record<string, CollectionPermission>>;
  /** Database id → data permissions. Missing means blocked / no. */
  readonly data: Readonly<Record<number, { viewData: ViewData; createQueries: CreateQueries }>>;
}

export const ALL_USERS = 1;
export const ADMINISTRATORS = 2;

export const GROUPS: readonly GroupDef[] = [
  {
    // All Users grants little: every scoped API key inherits it (API-CONTRACT.md §7).
    id: ALL_USERS, name: 'All Users', slug: 'all-users', magicGroupType: 'all-internal-users',
    collections: { root: 'read' },
    data: { 1: { viewData: 'blocked', createQueries: 'no' } },
  },
  {
    id: ADMINISTRATORS, name: 'Administrators', slug: 'administrators', magicGroupType: 'admin',
    collections: {}, data: { 1: { viewData: 'unrestricted', createQueries: 'query-builder-and-native' } },
  },
  {
    id: 3, name: 'Analysts', slug: 'analysts', magicGroupType: null,
    collections: { root: 'write', 1: 'write', 2: 'read', 3: 'read', 4: 'read', 7: 'read' },
    data: { 1: { viewData: 'unrestricted', createQueries: 'query-builder-and-native' } },
  },
  {
    id: 4, name: 'Sales', slug: 'sales', magicGroupType: null,
    collections: { root: 'read', 1: 'read', 2: 'write', 3: 'write' },
    data: { 1: { viewData: 'unrestricted', createQueries: 'query-builder' } },
  },
  {
    id: 5, name: 'Support', slug: 'support', magicGroupType: null,
    collections: { root: 'read', 1: 'read', 4: 'write' },
    data: { 1: { viewData: 'unrestricted', createQueries: 'no' } },
  },
  {
    id: 6, name: 'Agents', slug: 'agents', magicGroupType: null,
    collections: { 1: 'read', 7: 'read' },
    data: { 1: { viewData: 'unrestricted', createQueries: 'no' } },
  },
];

export interface UserDef {
  readonly id: number;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  /** Groups besides All Users. */
  readonly groupIds: readonly number[];
  readonly personalCollectionId: number;
}

/** One login per group. Passwords are made when the emulator starts (or passed in), never stored here. */
export const USERS: readonly UserDef[] = [
  { id: 1, email: 'ada@example.test', firstName: 'Ada', lastName: 'Admin', groupIds: [ADMINISTRATORS], personalCollectionId: 11 },
  { id: 2, email: 'ana@example.test', firstName: 'Ana', lastName: 'Analyst', groupIds: [3], personalCollectionId: 12 },
  { id: 3, email: 'sam@example.test', firstName: 'Sam', lastName: 'Seller', groupIds: [4], personalCollectionId: 13 },
  { id: 4, email: 'sue@example.test', firstName: 'Sue', lastName: 'Support', groupIds: [5], personalCollectionId: 14 },
  { id: 5, email: 'agent@example.test', firstName: 'Reporting', lastName: 'Agent', groupIds: [6], personalCollectionId: 15 },
  { id: 6, email: 'val@example.test', firstName: 'Val', lastName: 'Viewer', groupIds: [], personalCollectionId: 16 },
];

export interface CollectionDef {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  /** Materialized path of ancestors, e.g. `/2/`. */
  readonly location: string;
  readonly personalOwnerId: number | null;
  readonly authorityLevel: 'official' | null;
  readonly archived: boolean;
}

const collection = (id: number, name: string, location: string, description: string | null = null, authorityLevel: 'official' | null = null): CollectionDef =>
  ({ id, name, description, location, personalOwnerId: null, authorityLevel, archived: false });

export const COLLECTIONS: readonly CollectionDef[] = [
  collection(1, 'Examples', '/', 'Questions everyone starts from.', 'official'),
  collection(2, 'Sales', '/', 'Revenue, orders and customers.'),
  collection(3, 'Regional', '/2/', 'Sales by state and city.'),
  collection(4, 'Support', '/', 'Reviews and product quality.'),
  collection(5, 'Finance', '/', 'Restricted: invoices and payments.'),
  collection(6, 'Payroll', '/5/', 'Restricted: large payments.'),
  collection(7, 'Agent toolkit', '/', 'Vetted questions for automated agents.'),
  ...USERS.map((u) => ({
    id: u.personalCollectionId,
    name: `${u.firstName} ${u.lastName}'s Personal Collection`,
    description: null,
    location: '/',
    personalOwnerId: u.id,
    authorityLevel: null,
    archived: false,
  })),
];

export interface CardDef {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  readonly type: 'question' | 'model' | 'metric';
  readonly display: string;
  readonly collectionId: number | null;
  readonly creatorId: number;
  readonly archived?: boolean;
  /** Legacy MBQL or legacy native: the emulator serves MBQL 5 by default and this with `legacy-mbql`. */
  readonly query: Record<string, unknown>;
}

const f = (table: string, column: string): number => fieldByName(table, column).id;
const ref = (table: string, column: string): unknown[] => ['field', f(table, column), null];
const native = (query: string, tags: Record<string, Record<string, unknown>> = {}): Record<string, unknown> => ({
  type: 'native', database: SAMPLE_DATABASE_ID, native: { query, 'template-tags': tags },
});
const mbql = (query: Record<string, unknown>): Record<string, unknown> => ({ type: 'query', database: SAMPLE_DATABASE_ID, query });
const tag = (id: string, name: string, displayName: string, type: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id, name, 'display-name': displayName, type, ...extra });
const ORDERS = 5, PRODUCTS = 8, PEOPLE = 3, REVIEWS = 4, INVOICES = 7;

export const CARDS: readonly CardDef[] = [
  { id: 1, name: 'Orders, Count', description: 'How many orders there are.', type: 'question', display: 'scalar', collectionId: null, creatorId: 1,
    query: mbql({ 'source-table': ORDERS, aggregation: [['count']] }) },
  { id: 2, name: 'Products in a category', description: 'Native question with a {{category}} variable.', type: 'question', display: 'table', collectionId: 2, creatorId: 1,
    query: native('SELECT TITLE, PRICE FROM PRODUCTS WHERE CATEGORY = {{category}} ORDER BY PRICE DESC', {
      category: tag('7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', 'category', 'Category', 'text', { required: true, default: 'Gizmo' }),
    }) },
  { id: 3, name: 'Average price by category', description: null, type: 'question', display: 'bar', collectionId: 1, creatorId: 2,
    query: mbql({ 'source-table': PRODUCTS, aggregation: [['avg', ref('PRODUCTS', 'PRICE')]], breakout: [ref('PRODUCTS', 'CATEGORY')] }) },
  { id: 4, name: 'Orders since a date', description: 'Recent orders, optionally above a minimum total.', type: 'question', display: 'table', collectionId: 2, creatorId: 3,
    query: native('SELECT ID, USER_ID, PRODUCT_ID, TOTAL, CREATED_AT FROM ORDERS WHERE CREATED_AT >= {{since}} [[AND TOTAL >= {{min_total}}]] ORDER BY CREATED_AT DESC', {
      since: tag('0e6a3c1b-4d2f-4a8e-9b1c-1f2e3d4c5b6a', 'since', 'Since', 'date', { required: true, default: '2026-01-01' }),
      min_total: tag('5b9d2e7f-8c1a-4f3b-a6d4-2e7f9c1b3a5d', 'min_total', 'Minimum total', 'number'),
    }) },
  { id: 5, name: 'Customers by state', description: 'A field filter on PEOPLE.STATE.', type: 'question', display: 'table', collectionId: 3, creatorId: 3,
    query: native('SELECT STATE, COUNT(*) AS CUSTOMERS FROM PEOPLE WHERE {{state}} GROUP BY STATE ORDER BY CUSTOMERS DESC, STATE', {
      state: tag('3f8a1d6c-2b4e-4c7a-8d9f-6a1b2c3d4e5f', 'state', 'State', 'dimension', { dimension: ref('PEOPLE', 'STATE'), 'widget-type': 'string/=' }),
    }) },
  { id: 6, name: 'Customers', description: 'People who placed orders, one row each.', type: 'model', display: 'table', collectionId: 2, creatorId: 3,
    query: mbql({ 'source-table': PEOPLE, fields: ['ID', 'NAME', 'EMAIL', 'CITY', 'STATE', 'SOURCE'].map((c) => ref('PEOPLE', c)) }) },
  { id: 7, name: 'Product catalog', description: 'Every product with its price and rating.', type: 'model', display: 'table', collectionId: 1, creatorId: 2,
    query: native('SELECT ID, TITLE, CATEGORY, VENDOR, PRICE, RATING FROM PRODUCTS ORDER BY ID') },
  { id: 8, name: 'Total revenue', description: 'Sum of order totals.', type: 'metric', display: 'scalar', collectionId: 2, creatorId: 1,
    query: mbql({ 'source-table': ORDERS, aggregation: [['sum', ref('ORDERS', 'TOTAL')]] }) },
  { id: 9, name: 'Review count', description: null, type: 'metric', display: 'scalar', collectionId: 4, creatorId: 4,
    query: mbql({ 'source-table': REVIEWS, aggregation: [['count']] }) },
  { id: 10, name: 'Low-rated reviews', description: 'Reviews at or below a rating.', type: 'question', display: 'table', collectionId: 4, creatorId: 4,
    query: native('SELECT ID, PRODUCT_ID, REVIEWER, RATING, BODY FROM REVIEWS WHERE RATING <= {{max_rating}} ORDER BY CREATED_AT DESC, ID', {
      max_rating: tag('9a7b5c3d-1e2f-4a6b-8c0d-4e5f6a7b8c9d', 'max_rating', 'Maximum rating', 'number', { default: 2 }),
    }) },
  { id: 11, name: 'Reviews of a product', description: null, type: 'question', display: 'table', collectionId: 4, creatorId: 4,
    query: native('SELECT ID, REVIEWER, RATING, BODY, CREATED_AT FROM REVIEWS WHERE PRODUCT_ID = {{product_id}} ORDER BY CREATED_AT DESC', {
      product_id: tag('2c4e6a8b-0d1f-4b3a-9c5e-7f8a9b0c1d2e', 'product_id', 'Product ID', 'number', { required: true }),
    }) },
  { id: 12, name: 'Payments by plan', description: 'Restricted to finance.', type: 'question', display: 'bar', collectionId: 5, creatorId: 1,
    query: mbql({ 'source-table': INVOICES, aggregation: [['sum', ref('INVOICES', 'PAYMENT')]], breakout: [ref('INVOICES', 'PLAN')] }) },
  { id: 13, name: 'Large invoices', description: null, type: 'question', display: 'table', collectionId: 6, creatorId: 1,
    query: native('SELECT ID, ACCOUNT_ID, PLAN, PAYMENT, DATE_RECEIVED FROM INVOICES WHERE PAYMENT >= {{min_payment}} ORDER BY PAYMENT DESC', {
      min_payment: tag('6d8f0a2c-4e5b-4c7d-9e1f-3a4b5c6d7e8f', 'min_payment', 'Minimum payment', 'number', { default: 100 }),
    }) },
  { id: 14, name: 'Gizmos over $50', description: 'Query-builder filters, sort and limit.', type: 'question', display: 'table', collectionId: 1, creatorId: 2,
    query: mbql({
      'source-table': PRODUCTS,
      fields: ['ID', 'TITLE', 'CATEGORY', 'PRICE'].map((c) => ref('PRODUCTS', c)),
      filter: ['and', ['=', ref('PRODUCTS', 'CATEGORY'), 'Gizmo'], ['>', ref('PRODUCTS', 'PRICE'), 50]],
      'order-by': [['desc', ref('PRODUCTS', 'PRICE')]],
      limit: 20,
    }) },
  { id: 15, name: 'Accounts by plan', description: 'Active or inactive subscriptions per plan.', type: 'question', display: 'table', collectionId: 7, creatorId: 2,
    query: native('SELECT PLAN, COUNT(*) AS ACCOUNTS FROM ACCOUNTS WHERE ACTIVE_SUBSCRIPTION = {{active}} GROUP BY PLAN ORDER BY PLAN', {
      active: tag('8e0a2c4e-6f1b-4d3c-a5e7-9b0c1d2e3f4a', 'active', 'Active subscription', 'boolean', { default: true }),
    }) },
  { id: 16, name: 'Top products by revenue', description: 'Filter by category; choose how many.', type: 'question', display: 'table', collectionId: 7, creatorId: 2,
    query: native('SELECT PRODUCTS.TITLE, ROUND(SUM(ORDERS.TOTAL), 2) AS REVENUE FROM ORDERS JOIN PRODUCTS ON PRODUCTS.ID = ORDERS.PRODUCT_ID WHERE {{category}} GROUP BY PRODUCTS.TITLE ORDER BY REVENUE DESC LIMIT {{top}}', {
      category: tag('1b3d5f7a-9c0e-4a2b-8d4f-6a8c0e2b4d6f', 'category', 'Category', 'dimension', { dimension: ref('PRODUCTS', 'CATEGORY'), 'widget-type': 'string/=' }),
      top: tag('4f6a8c0e-2b4d-4f6a-9c1e-3b5d7f9a1c3e', 'top', 'How many', 'number', { default: 10 }),
    }) },
  { id: 17, name: 'Orders, every row', description: 'Unaggregated: capped at 2,000 rows.', type: 'question', display: 'table', collectionId: 1, creatorId: 1,
    query: mbql({ 'source-table': ORDERS }) },
  { id: 18, name: 'Old revenue report', description: 'Archived.', type: 'question', display: 'table', collectionId: 2, creatorId: 3, archived: true,
    query: mbql({ 'source-table': ORDERS, aggregation: [['sum', ref('ORDERS', 'SUBTOTAL')]] }) },
];

export interface DashboardParameterDef {
  readonly id: string;
  readonly name: string;
  readonly slug: string;
  readonly type: string;
  readonly sectionId: string;
  readonly default?: unknown;
  readonly required?: boolean;
}

export interface DashcardDef {
  readonly id: number;
  readonly tabId: number | null;
  /** null for a text card. */
  readonly cardId: number | null;
  readonly text?: string;
  readonly row: number;
  readonly col: number;
  readonly sizeX: number;
  readonly sizeY: number;
  readonly series?: readonly number[];
  readonly mappings?: readonly { parameterId: string; cardId: number; target: unknown[] }[];
}

export interface DashboardDef {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  readonly collectionId: number | null;
  readonly creatorId: number;
  readonly archived?: boolean;
  readonly parameters: readonly DashboardParameterDef[];
  readonly tabs: readonly { id: number; name: string }[];
  readonly dashcards: readonly DashcardDef[];
}

const variable = (name: string): unknown[] => ['variable', ['template-tag', name]];
const dimensionTag = (name: string): unknown[] => ['dimension', ['template-tag', name]];
const dimensionField = (table: string, column: string): unknown[] => ['dimension', ref(table, column), { 'stage-number': 0 }];

export const DASHBOARDS: readonly DashboardDef[] = [
  {
    id: 1, name: 'Sales overview', description: 'Revenue and orders, filtered by category, date and state.', collectionId: 2, creatorId: 1,
    parameters: [
      { id: '6f1c2d3e', name: 'Category', slug: 'category', type: 'string/=', sectionId: 'string' },
      { id: 'a1b2c3d4', name: 'Since', slug: 'since', type: 'date/single', sectionId: 'date', default: '2026-01-01' },
      { id: 'b7e8f9a0', name: 'State', slug: 'state', type: 'string/=', sectionId: 'location' },
    ],
    tabs: [{ id: 1, name: 'Overview' }, { id: 2, name: 'Details' }],
    dashcards: [
      { id: 21, tabId: 1, cardId: 8, row: 0, col: 0, sizeX: 6, sizeY: 4 },
      { id: 22, tabId: 1, cardId: 2, row: 0, col: 6, sizeX: 18, sizeY: 6,
        mappings: [{ parameterId: '6f1c2d3e', cardId: 2, target: variable('category') }] },
      { id: 23, tabId: 1, cardId: null, text: '## Notes\nTotals include tax and discounts.', row: 6, col: 0, sizeX: 24, sizeY: 2 },
      { id: 24, tabId: 1, cardId: 3, series: [14], row: 8, col: 0, sizeX: 12, sizeY: 6,
        mappings: [
          { parameterId: '6f1c2d3e', cardId: 3, target: dimensionField('PRODUCTS', 'CATEGORY') },
          { parameterId: '6f1c2d3e', cardId: 14, target: dimensionField('PRODUCTS', 'CATEGORY') },
        ] },
      { id: 25, tabId: 2, cardId: 4, row: 0, col: 0, sizeX: 24, sizeY: 8,
        mappings: [{ parameterId: 'a1b2c3d4', cardId: 4, target: variable('since') }] },
      { id: 26, tabId: 2, cardId: 5, row: 8, col: 0, sizeX: 12, sizeY: 6,
        mappings: [{ parameterId: 'b7e8f9a0', cardId: 5, target: dimensionTag('state') }] },
    ],
  },
  {
    id: 2, name: 'Support desk', description: 'Reviews and what customers say.', collectionId: 4, creatorId: 4,
    parameters: [
      { id: 'c0ffee01', name: 'Rating', slug: 'rating', type: 'number/=', sectionId: 'number' },
      { id: 'c0ffee02', name: 'Product', slug: 'product', type: 'id', sectionId: 'id' },
    ],
    tabs: [{ id: 3, name: 'Reviews' }, { id: 4, name: 'Products' }],
    dashcards: [
      { id: 27, tabId: 3, cardId: null, text: '# Support desk', row: 0, col: 0, sizeX: 24, sizeY: 1 },
      { id: 28, tabId: 3, cardId: 9, row: 1, col: 0, sizeX: 6, sizeY: 4 },
      { id: 29, tabId: 3, cardId: 10, row: 1, col: 6, sizeX: 18, sizeY: 8,
        mappings: [{ parameterId: 'c0ffee01', cardId: 10, target: variable('max_rating') }] },
      { id: 30, tabId: 4, cardId: 11, row: 0, col: 0, sizeX: 24, sizeY: 8,
        mappings: [{ parameterId: 'c0ffee02', cardId: 11, target: variable('product_id') }] },
    ],
  },
  {
    id: 3, name: 'Executive summary', description: 'One page for everyone; some cards are restricted.', collectionId: null, creatorId: 1,
    parameters: [{ id: 'e0e0e0e1', name: 'Category', slug: 'category', type: 'category', sectionId: 'string' }],
    tabs: [{ id: 5, name: 'Summary' }, { id: 6, name: 'Finance' }],
    dashcards: [
      { id: 31, tabId: 5, cardId: 1, row: 0, col: 0, sizeX: 6, sizeY: 4 },
      { id: 32, tabId: 5, cardId: 8, row: 0, col: 6, sizeX: 6, sizeY: 4 },
      { id: 33, tabId: 5, cardId: 3, series: [7], row: 4, col: 0, sizeX: 12, sizeY: 6,
        mappings: [{ parameterId: 'e0e0e0e1', cardId: 3, target: dimensionField('PRODUCTS', 'CATEGORY') }] },
      { id: 34, tabId: 5, cardId: 14, row: 4, col: 12, sizeX: 12, sizeY: 6,
        mappings: [{ parameterId: 'e0e0e0e1', cardId: 14, target: dimensionField('PRODUCTS', 'CATEGORY') }] },
      { id: 35, tabId: 6, cardId: null, text: 'Finance figures are visible to administrators only.', row: 0, col: 0, sizeX: 24, sizeY: 2 },
      { id: 36, tabId: 6, cardId: 12, row: 2, col: 0, sizeX: 12, sizeY: 6 },
    ],
  },
  {
    id: 4, name: 'Finance board', description: null, collectionId: 5, creatorId: 1,
    parameters: [{ id: 'f1a2b3c4', name: 'Minimum payment', slug: 'minimum_payment', type: 'number/=', sectionId: 'number' }],
    tabs: [{ id: 7, name: 'Invoices' }, { id: 8, name: 'Plans' }],
    dashcards: [
      { id: 37, tabId: 7, cardId: 13, row: 0, col: 0, sizeX: 24, sizeY: 8,
        mappings: [{ parameterId: 'f1a2b3c4', cardId: 13, target: variable('min_payment') }] },
      { id: 38, tabId: 8, cardId: 12, row: 0, col: 0, sizeX: 12, sizeY: 6 },
      { id: 39, tabId: 8, cardId: null, text: 'Payments are in US dollars.', row: 0, col: 12, sizeX: 12, sizeY: 2 },
    ],
  },
  {
    id: 5, name: 'Retired KPIs', description: 'Archived.', collectionId: 2, creatorId: 3, archived: true,
    parameters: [], tabs: [], dashcards: [{ id: 40, tabId: null, cardId: 18, row: 0, col: 0, sizeX: 12, sizeY: 6 }],
  },
];

/**
 * Objects that only search returns (API-CONTRACT.md §4.11): the gateway serves none of them, so they test how it
 * handles search models it does not know.
 */
export interface SegmentDef {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  /** Segments belong to a table, not to a collection; who may view the table's data sees them. */
  readonly tableId: number;
  readonly creatorId: number;
}

export const SEGMENTS: readonly SegmentDef[] = [
  { id: 1, name: 'Large orders', description: 'Orders with a total of $100 or more.', tableId: ORDERS, creatorId: 1 },
  { id: 2, name: 'Five-star reviews', description: 'Reviews rated 5.', tableId: REVIEWS, creatorId: 4 },
];

export interface ActionDef {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  /** The model card the action lives on; who reads the model's collection sees it. */
  readonly modelId: number;
  readonly type: 'query' | 'implicit';
  readonly creatorId: number;
}

export const ACTIONS: readonly ActionDef[] = [
  { id: 1, name: 'Mark order as shipped', description: "Marks a customer's open orders as shipped.", modelId: 6, type: 'query', creatorId: 3 },
  { id: 2, name: 'Update product price', description: null, modelId: 7, type: 'implicit', creatorId: 2 },
];

/** A model index: search finds the model's rows by `valueField`, each hit named by its value, with `pkField` as id. */
export interface ModelIndexDef {
  readonly id: number;
  readonly modelId: number;
  readonly table: string;
  readonly pkField: string;
  readonly valueField: string;
  /** Rows indexed, first by primary key (the emulator indexes a few; Metabase indexes up to 5,000). */
  readonly rows: number;
}

export const MODEL_INDEXES: readonly ModelIndexDef[] = [
  { id: 1, modelId: 7, table: 'PRODUCTS', pkField: 'ID', valueField: 'TITLE', rows: 5 },
];

/** Fixed timestamps: the instance's content must not depend on the clock. */
export const CREATED_AT = '2026-03-01T12:00:00.000Z';
export const UPDATED_AT = '2026-03-05T08:00:00.654Z';

/**
 * The client sends only what Metabase documents: every query-string key it uses is a parameter of the
 * endpoint in Metabase's OpenAPI fragments (or the paging middleware's limit/offset), and every body it
 * posts validates against the endpoint's request schema. Requests are read from the emulator's log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { loginCredential } from '../../../src/metabase/credentials.js';
import { MetabaseClient } from '../../../src/metabase/client.js';
import { credentialOf, emulator, type Emulator } from '../../helpers/emulator.js';
import { keyClient } from '../../helpers/metabase.js';

const PATHS = new URL('../../fixtures/metabase/openapi-split/paths/', import.meta.url);

/** `GET /api/card/:card-id/query` → `api_card_{card-id}_query.json`. */
const fragmentFile = (pattern: string): URL => new URL(`${pattern.slice(1).replace(/:([a-z-]+)/g, '{$1}').replaceAll('/', '_')}.json`, PATHS);

describe('Metabase client: requests conform to Metabase\'s OpenAPI', () => {
  let e: Emulator;
  before(async () => {
    e = await emulator();
  });
  after(() => e.close());

  test('query keys are documented parameters and bodies validate against request schemas', async () => {
    const admin = keyClient(e, 'Administrators');
    const c = credentialOf(e, 'Analysts');
    const login = new MetabaseClient({ baseUrl: e.url, credential: loginCredential(c.email, c.password) });
    e.requests.reset();
    await login.currentUser();
    await login.close();
    await admin.listCards({ f: 'table', modelId: 8 });
    await admin.getCard(2, { legacyMbql: true });
    await admin.runCard(2, { parameters: [{ id: '7d3c9f10-5b2a-4e61-9f0c-2a4b6c8d0e12', value: 'Widget' }], dashboardId: 1 });
    await admin.runDashcard(1, 24, 3, { parameters: [{ id: '6f1c2d3e', value: ['Gizmo'] }] });
    await admin.runNative(1, 'SELECT 1');
    await admin.listDashboards({ f: 'mine' });
    await admin.getDashboard(1);
    await admin.listCollections({ archived: false, excludeOtherUserCollections: true, personalOnly: false });
    await admin.getCollection('root');
    await admin.getCollectionItems(2, { models: ['card', 'dashboard'], archived: false, pinnedState: 'all', sortColumn: 'name', sortDirection: 'asc', limit: 5, offset: 0 });
    await admin.getCollectionTree({ excludeArchived: true, excludeOtherUserCollections: true, shallow: false, collectionId: 2 });
    await admin.getDatabaseMetadata(1, { includeHidden: false, skipFields: false });
    await admin.search({ q: 'orders', models: ['card'], ids: [2], archived: false, collectionId: 2, tableDbId: 1, limit: 5, offset: 0 });
    await admin.listGroups({ limit: 5, offset: 0 });
    await admin.cardDashboards([1, 2]);
    await admin.close();

    const ajv = new Ajv2020.default({ strict: false, allErrors: true });
    let documented = 0;
    for (const req of e.requests.log) {
      const [method, pattern] = req.route.split(' ') as [string, string];
      const file = fragmentFile(pattern);
      if (!existsSync(file)) continue; // endpoints the fragments do not cover: health, database list, …
      documented++;
      const op = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>)[method.toLowerCase()];
      assert.ok(op, `${req.route} is in its fragment`);
      const params = ((op['parameters'] ?? []) as { name: string; in: string }[]).filter((p) => p.in === 'query').map((p) => p.name);
      for (const key of req.query) assert.ok(params.includes(key) || key === 'limit' || key === 'offset', `${req.route}: ?${key} is documented`);
      const bodySchema = (op['requestBody'] as { content?: Record<string, { schema?: object }> } | undefined)?.content?.['application/json']?.schema;
      if (bodySchema) {
        const validate = ajv.compile(bodySchema);
        assert.ok(validate(req.body), `${req.route}: ${JSON.stringify(validate.errors)}`);
      }
    }
    assert.ok(documented >= 15, `${documented} requests checked against fragments`);
  });
});

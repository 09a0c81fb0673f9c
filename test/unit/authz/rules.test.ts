/**
 * The rule tree covers the schema exactly: every object type has an entry (so a type added later is
 * denied until someone writes its rule), and every entry names a type that exists.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isObjectType } from 'graphql';
import { RULES } from '../../../src/authz/rules.js';
import { buildGatewaySchema } from '../../../src/graph/schema.js';

test('every object type of the schema has a rule entry, and no entry names a missing type', async () => {
  const schema = await buildGatewaySchema();
  const types = Object.values(schema.getTypeMap()).filter((t) => isObjectType(t) && !t.name.startsWith('__')).map((t) => t.name).sort();
  assert.deepEqual(Object.keys(RULES).sort(), types);
});

test('Query and Mutation fields fall back to "has a role"; only viewer is open', () => {
  assert.equal(RULES.Query['*'].name, 'has-role');
  assert.equal(RULES.Mutation['*'].name, 'has-role');
  assert.equal(RULES.Query.viewer.constructor.name, 'RuleTrue');
});

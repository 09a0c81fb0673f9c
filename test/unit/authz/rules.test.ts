/**
 * The rules fail closed. The rule tree covers the emitted schema exactly: every field of Query and
 * Mutation is named with its own rule (no wildcard), every other object type has an entry (a rule for
 * the whole type, or a map whose fields are named or fall under the type's `*`), and every entry
 * names something that exists. A field added later without a rule is denied.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildSchema, execute, extendSchema, isObjectType, parse } from 'graphql';
import { RULES } from '../../../src/authz/rules.js';
import { buildGatewaySchema } from '../../../src/graph/schema.js';
import { protect } from '../../../src/authz/rules.js';

const emitted = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
const tree = RULES as unknown as Record<string, unknown>;
const isMap = (entry: unknown): entry is Record<string, unknown> => entry !== null && typeof entry === 'object' && !('resolve' in (entry as object)) && Object.getPrototypeOf(entry) === Object.prototype;

test('every field of the emitted schema is named by a rule, explicitly or through its type\'s rule', () => {
  const unnamed: string[] = [];
  for (const type of Object.values(emitted.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const entry = tree[type.name];
    assert.ok(entry !== undefined, `type ${type.name} has a rule entry`);
    const root = type.name === 'Query' || type.name === 'Mutation';
    if (!isMap(entry)) {
      assert.ok(!root, `${type.name} names a rule per field, not one for the whole type`);
      continue;
    }
    for (const field of Object.keys(type.getFields())) {
      if (entry[field] !== undefined) continue;
      if (!root && entry['*'] !== undefined) continue;
      unnamed.push(`${type.name}.${field}`);
    }
    if (root) assert.equal(entry['*'], undefined, `${type.name} has no wildcard rule`);
  }
  assert.deepEqual(unnamed, [], 'fields no rule names');
});

test('no rule names a type or field the schema lacks', () => {
  for (const [typeName, entry] of Object.entries(tree)) {
    const type = emitted.getType(typeName);
    assert.ok(type && isObjectType(type), `${typeName} is an object type of the schema`);
    if (!isMap(entry)) continue;
    for (const field of Object.keys(entry)) {
      if (field === '*') continue;
      assert.ok(field in type.getFields(), `${typeName}.${field} exists`);
    }
  }
});

test('a root field added without a rule is denied, even to a caller with a role', async () => {
  const base = await buildGatewaySchema();
  const extended = extendSchema(base, parse('extend type Query { addedLater: String }'));
  extended.getQueryType()!.getFields()['addedLater']!.resolve = () => 'secret';
  const result = await execute({ schema: protect(extended), document: parse('{ addedLater }'), contextValue: { roleName: 'analyst', noRoleReason: null } });
  assert.equal(result.data?.['addedLater'], null);
  assert.equal(result.errors?.[0]?.extensions['code'], 'FORBIDDEN');
  assert.equal(result.errors?.[0]?.extensions['reason'], 'no-rule');
});

test('viewer is the only root field open without a role', async () => {
  const schema = protect(await buildGatewaySchema());
  const result = await execute({
    schema, document: parse('{ databases { id } search(text: "x") { id } }'),
    contextValue: { roleName: null, noRoleReason: 'No gateway role fits your token.', viewer: { groupsOverage: false } },
  });
  assert.deepEqual(result.errors?.map((e) => [e.path?.join('.'), e.extensions['reason']]).sort(), [['databases', 'no-role'], ['search', 'no-role']]);
});

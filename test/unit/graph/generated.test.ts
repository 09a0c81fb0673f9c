/** Generated files are committed; they must match the code that generates them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { printGatewaySchema } from '../../../scripts/emit-schema.js';
import { createHash } from 'node:crypto';
import { print, type DocumentNode } from 'graphql';
import { buildManifest, buildTools } from '../../../scripts/persisted-operations.js';
import { McpTools } from '../../../src/mcp/tools.js';
import * as generated from '../../../schema/generated/graphql.js';
import { VettedOperations } from '../../../src/gate/persisted.js';

const ROOT = new URL('../../../', import.meta.url);

test('schema/schema.graphql matches the type-graphql code (run `npm run schema`)', async () => {
  assert.equal(await printGatewaySchema(), readFileSync(new URL('schema/schema.graphql', ROOT), 'utf8'));
});

test('schema/generated/graphql.ts matches codegen over schema/operations (run `npm run codegen`)', async () => {
  const { config } = await loadCodegenConfig({ configFilePath: new URL('codegen.yml', ROOT).pathname });
  const cwd = process.cwd();
  process.chdir(new URL('.', ROOT).pathname);
  try {
    const outputs = (await generate({ ...config, silent: true }, false)) as { filename: string; content: string }[];
    assert.equal(outputs.length, 1);
    assert.equal(outputs[0]!.content, readFileSync(new URL(outputs[0]!.filename, ROOT), 'utf8'));
  } finally {
    process.chdir(cwd);
  }
});

test('schema/persisted-operations.json matches the vetted operations (run `npm run codegen`), and its ids are the hashes of the typed documents clients send', () => {
  const committed = readFileSync(new URL('schema/persisted-operations.json', ROOT), 'utf8');
  assert.equal(buildManifest(), committed);
  const vetted = VettedOperations.load(new URL('schema/persisted-operations.json', ROOT));
  const agentDocs = Object.entries(generated).filter(([name]) => /^Agent\w+Document$/.test(name)) as [string, DocumentNode][];
  assert.equal(agentDocs.length, vetted.all().length, 'a typed document for every vetted operation');
  for (const [name, doc] of agentDocs) {
    const op = vetted.get(createHash('sha256').update(print(doc)).digest('hex'));
    assert.equal(op?.name, name.replace(/Document$/, ''), `${name}: its printed text hashes to its manifest id`);
  }
});

test('schema/mcp-tools.json matches the vetted operations and the schema (run `npm run codegen`), one tool per operation', () => {
  assert.equal(buildTools(), readFileSync(new URL('schema/mcp-tools.json', ROOT), 'utf8'));
  const vetted = VettedOperations.load(new URL('schema/persisted-operations.json', ROOT));
  const tools = McpTools.load(vetted, new URL('schema/mcp-tools.json', ROOT));
  assert.deepEqual(tools.forRole({ operations: null }).map((t) => t.name).sort(), vetted.all().map((o) => o.name).sort());
});

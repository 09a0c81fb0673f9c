/** Generated files are committed; they must match the code that generates them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { printGatewaySchema } from '../../../scripts/emit-schema.js';

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

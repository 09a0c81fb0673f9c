/**
 * The persisted-operations manifest of the vetted operations (schema/operations/vetted/*.graphql):
 * `{ "<sha256 of the document>": "<document>" }`, the trusted-documents convention. Each operation
 * is printed alone (graphql-js `print`), and its id is the SHA-256 of exactly that text, so a client
 * that sends the generated typed document's text sends a document whose hash is its id.
 * `npm run codegen` writes it; a test fails when the committed file differs.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { buildSchema, Kind, parse, print } from 'graphql';
import { operationDescriptions, toolFor, type ToolDefinition } from '../src/mcp/tool-schema.js';

const ROOT = new URL('../', import.meta.url);
export const VETTED_DIR = new URL('schema/operations/vetted/', ROOT);
export const MANIFEST_FILE = new URL('schema/persisted-operations.json', ROOT);
export const TOOLS_FILE = new URL('schema/mcp-tools.json', ROOT);
const SCHEMA_FILE = new URL('schema/schema.graphql', ROOT);

interface VettedOperation {
  readonly name: string;
  /** The operation alone, as graphql-js prints it; its id is the SHA-256 of this text. */
  readonly text: string;
  readonly id: string;
  /** The `#` lines right above it. */
  readonly description: string;
}

/** Every vetted operation, file by file in name order. */
function vettedOperations(): VettedOperation[] {
  const operations: VettedOperation[] = [];
  for (const file of readdirSync(VETTED_DIR).filter((f) => f.endsWith('.graphql')).sort()) {
    const source = readFileSync(new URL(file, VETTED_DIR), 'utf8');
    const descriptions = operationDescriptions(source);
    for (const def of parse(source).definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION || !def.name) throw new Error(`${file}: every vetted definition is a named operation (no fragments)`);
      const text = print({ kind: Kind.DOCUMENT, definitions: [def] });
      operations.push({ name: def.name.value, text, id: createHash('sha256').update(text).digest('hex'), description: descriptions.get(def.name.value)! });
    }
  }
  return operations;
}

/** The manifest's text, from the vetted operations' files. */
export function buildManifest(): string {
  const manifest = Object.fromEntries(vettedOperations().map((op) => [op.id, op.text]));
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * The MCP tools' file: one tool per vetted operation, with its description (the `#` lines above it)
 * and its input and output JSON Schemas, derived from the operation and schema/schema.graphql.
 */
export function buildTools(): string {
  const schema = buildSchema(readFileSync(SCHEMA_FILE, 'utf8'));
  const tools: ToolDefinition[] = vettedOperations().map((op) => toolFor(schema, op.id, op.text, op.description));
  return `${JSON.stringify(tools, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(MANIFEST_FILE, buildManifest());
  writeFileSync(TOOLS_FILE, buildTools());
  console.log(`${new URL(MANIFEST_FILE).pathname}: ${Object.keys(JSON.parse(buildManifest()) as object).length} operations`);
}

/** `npm run schema`: writes the graph's SDL to schema/schema.graphql (committed; `npm test` checks it). */
import { writeFileSync } from 'node:fs';
import { printSchema, lexicographicSortSchema } from 'graphql';
import { buildGatewaySchema } from '../src/graph/schema.js';

export async function printGatewaySchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await buildGatewaySchema()))}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sdl = await printGatewaySchema();
  writeFileSync(new URL('../schema/schema.graphql', import.meta.url), sdl);
  console.log(`schema/schema.graphql: ${sdl.split('\n').length} lines`);
}

/**
 * The MCP tools: one per vetted operation, as schema/mcp-tools.json describes them (written by
 * `npm run codegen` from the vetted operations, tool-schema.ts). Loading checks each tool against
 * the manifest of vetted operations, so a tool always runs the reviewed document it was made from,
 * and compiles a validator of each tool's arguments: arguments that do not fit are refused before
 * anything runs, with a message that says what was expected.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import type { VettedOperations } from '../gate/persisted.js';
import type { ToolDefinition } from './tool-schema.js';

export const DEFAULT_TOOLS_FILE = new URL('../../schema/mcp-tools.json', import.meta.url);

interface Tool extends ToolDefinition {
  readonly validate: ValidateFunction;
}

/** What a role's tools depend on: the vetted operations it may run (null: all of them). */
export interface ToolRole {
  readonly operations: readonly string[] | null;
}

export class McpTools {
  readonly #byName: ReadonlyMap<string, Tool>;

  constructor(definitions: readonly ToolDefinition[], vetted: VettedOperations) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const byName = new Map<string, Tool>();
    for (const d of definitions) {
      const op = vetted.get(d.operationId);
      if (!op || op.name !== d.name) throw new Error(`MCP tool ${d.name} does not match a vetted operation (run \`npm run codegen\`)`);
      byName.set(d.name, { ...d, validate: ajv.compile(d.inputSchema) });
    }
    for (const op of vetted.all()) if (!byName.has(op.name)) throw new Error(`the vetted operation ${op.name} has no MCP tool (run \`npm run codegen\`)`);
    this.#byName = byName;
  }

  static load(vetted: VettedOperations, file: URL | string = DEFAULT_TOOLS_FILE): McpTools {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(raw)) throw new Error(`${String(file)}: expected an array of tools`);
    return new McpTools(raw as ToolDefinition[], vetted);
  }

  /** The tools a role may use: every vetted operation, or those its `operations` list names. */
  forRole(role: ToolRole): ToolDefinition[] {
    const tools = [...this.#byName.values()];
    return (role.operations ? tools.filter((t) => role.operations!.includes(t.name)) : tools).map(({ validate: _, ...t }) => t);
  }

  /** The tool of that name if the role may use it. */
  get(name: string, role: ToolRole): ToolDefinition | undefined {
    const tool = this.#byName.get(name);
    return tool && (!role.operations || role.operations.includes(name)) ? tool : undefined;
  }

  /** Null when the arguments fit the tool's input schema; else what was expected, for the caller. */
  check(name: string, args: unknown): string | null {
    const tool = this.#byName.get(name);
    if (!tool) return `There is no tool ${name.slice(0, 64)}.`;
    if (tool.validate(args)) return null;
    return (tool.validate.errors ?? []).slice(0, 5).map(describe).join('; ');
  }
}

function describe(e: ErrorObject): string {
  const where = e.instancePath ? `\`${e.instancePath.slice(1).replaceAll('/', '.').slice(0, 100)}\`` : 'the arguments';
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where} may not have \`${String((e.params as { additionalProperty: string }).additionalProperty).slice(0, 64)}\``;
    case 'required':
      return `${where} need \`${String((e.params as { missingProperty: string }).missingProperty).slice(0, 64)}\``;
    case 'enum':
      return `${where} must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).filter((v) => v !== null).join(', ')}`;
    default:
      return `${where} ${e.message ?? 'is not valid'}`;
  }
}

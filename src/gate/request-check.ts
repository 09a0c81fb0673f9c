/**
 * The part of the operation gate that runs before the document is parsed: its size, its tokens, how
 * deeply its selections and input values nest, how many fragments it defines, and the size, depth
 * and number of values of the variables. Everything here is one pass without recursion and stops counting at the limit, so a
 * hostile request costs about as much to refuse as the limit allows, however large it is.
 */
import { Lexer, Source, TokenKind } from 'graphql';
import type { OperationLimits } from '../config/limits.js';
import { overLimit } from './refusal.js';

/**
 * Size, tokens and nesting of a GraphQL document. Nesting is measured on the tokens: selection-set
 * braces outside parentheses give the depth of fields (exact without fragments, a lower bound with
 * them), brackets and braces inside parentheses the nesting of input values. A document that does
 * not lex is left to the parser, which reports it.
 */
export function checkDocument(query: string, limits: OperationLimits): void {
  const bytes = Buffer.byteLength(query);
  if (bytes > limits.documentBytes) throw overLimit('documentBytes', limits.documentBytes, bytes);
  const lexer = new Lexer(new Source(query));
  let tokens = 0;
  let parens = 0;
  let selections = 0;
  let inputs = 0;
  let fragments = 0;
  for (let token = next(lexer); token && token.kind !== TokenKind.EOF; token = next(lexer)) {
    tokens += 1;
    if (tokens > limits.tokens) throw overLimit('tokens', limits.tokens, tokens, true);
    switch (token.kind) {
      case TokenKind.PAREN_L: parens += 1; break;
      case TokenKind.PAREN_R: parens = Math.max(0, parens - 1); break;
      case TokenKind.BRACE_L: case TokenKind.BRACKET_L:
        if (parens > 0 || token.kind === TokenKind.BRACKET_L) {
          inputs += 1;
          if (inputs > limits.variableDepth) throw overLimit('variableDepth', limits.variableDepth, inputs, true);
        } else {
          selections += 1;
          if (selections > limits.depth) throw overLimit('depth', limits.depth, selections, true);
        }
        break;
      case TokenKind.BRACE_R: case TokenKind.BRACKET_R:
        if (parens > 0 || token.kind === TokenKind.BRACKET_R) inputs = Math.max(0, inputs - 1);
        else selections = Math.max(0, selections - 1);
        break;
      case TokenKind.NAME:
        // A fragment definition: the word `fragment` outside every brace and parenthesis.
        if (token.value === 'fragment' && selections === 0 && parens === 0 && inputs === 0) {
          fragments += 1;
          if (fragments > limits.fragments) throw overLimit('fragments', limits.fragments, fragments, true);
        }
        break;
      default:
    }
  }
}

/** The next token, or undefined at a syntax error: the parser then reports it, with its location. */
function next(lexer: Lexer): ReturnType<Lexer['advance']> | undefined {
  try {
    return lexer.advance();
  } catch {
    return undefined;
  }
}

/**
 * Size (as JSON), depth and number of values (object keys and list items) of the variables,
 * walked with an explicit stack. Refused at the first limit crossed, before anything parses them.
 */
export function checkVariables(variables: unknown, limits: OperationLimits): void {
  if (variables === null || variables === undefined || typeof variables !== 'object') return;
  let bytes = 0;
  let values = 0;
  const stack: { value: unknown; depth: number }[] = [{ value: variables, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value === 'string') bytes += Buffer.byteLength(value) + 2;
    else if (typeof value === 'number' || typeof value === 'boolean') bytes += String(value).length;
    else if (value === null) bytes += 4;
    else if (typeof value === 'object') {
      if (depth > limits.variableDepth) throw overLimit('variableDepth', limits.variableDepth, depth, true);
      if (Array.isArray(value)) {
        values += value.length;
        bytes += 2 + value.length;
        if (values > limits.variableValues) throw overLimit('variableValues', limits.variableValues, values, true);
        for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth: depth + 1 });
      } else {
        const keys = Object.keys(value);
        values += keys.length;
        bytes += 2;
        if (values > limits.variableValues) throw overLimit('variableValues', limits.variableValues, values, true);
        for (const key of keys) {
          bytes += Buffer.byteLength(key) + 4;
          stack.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1 });
        }
      }
    }
    if (bytes > limits.variableBytes) throw overLimit('variableBytes', limits.variableBytes, bytes, true);
  }
}

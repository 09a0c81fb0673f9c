import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphQLError } from 'graphql';
import { createFormatError, withoutVariableValues } from '../../../src/errors/format-error.js';
import { NotFoundError } from '../../../src/errors/index.js';

const logged: object[] = [];
const seenByRequest = new WeakSet<object>();
const format = createFormatError({ error: (obj) => logged.push(obj) }, seenByRequest);

test('gateway errors pass through with their code and details', () => {
  const err = new NotFoundError('No question 9 is visible to your role.', { details: { upstreamStatus: 404 } });
  assert.deepEqual(format({ message: err.message, path: ['question'] }, err), {
    message: 'No question 9 is visible to your role.', path: ['question'], extensions: { upstreamStatus: 404, code: 'NOT_FOUND' },
  });
});

test('graphql-js and Apollo request faults become BAD_USER_INPUT with their own message', () => {
  const out = format({ message: 'Cannot query field "x" on type "Query".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }, new GraphQLError('x'));
  assert.deepEqual(out, { message: 'Cannot query field "x" on type "Query".', extensions: { code: 'BAD_USER_INPUT' } });
});

test('anything else is masked; logged here only when no request logged it', () => {
  const secret = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
  const out = format({ message: secret.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } }, secret);
  assert.deepEqual(out, { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  assert.equal(logged.length, 1);
  const seen = new Error('already logged with its request id');
  seenByRequest.add(seen);
  format({ message: seen.message }, seen);
  assert.equal(logged.length, 1, 'logged once');
});

test('a gateway error\'s http status and log-only detail never reach the client', () => {
  const err = new NotFoundError('Nothing is there.', { details: { upstreamStatus: 404, http: { status: 404 } }, detail: 'GET /api/card/9 answered 404: Not found.' });
  const out = format({ message: err.message }, err);
  assert.deepEqual(out, { message: 'Nothing is there.', extensions: { upstreamStatus: 404, code: 'NOT_FOUND' } });
  assert.ok(!JSON.stringify(out).includes('/api/card'));
});

test('variable coercion errors name the variable, never its value; long messages are cut', () => {
  const msg = 'Variable "$id" got invalid value { secret: "hunter2" } at "id.secret"; Field "secret" is not defined by type "X".';
  const out = format({ message: msg, extensions: { code: 'BAD_USER_INPUT' } }, new GraphQLError(msg));
  assert.equal(out.message, 'Variable "$id" got a value its type does not accept (at "id.secret"); check the value against the variable\'s declared type.');
  assert.equal(withoutVariableValues('Variable "$n" of required type "Int!" was not provided.'), 'Variable "$n" of required type "Int!" was not provided.');
  const long = format({ message: `Syntax Error: ${'x'.repeat(5_000)}`, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }, new GraphQLError('x'));
  assert.ok(long.message.length <= 300);
  const tooManyText = 'Too many errors processing variables, error limit reached. Execution aborted.';
  const tooMany = format({ message: tooManyText }, new GraphQLError(tooManyText));
  assert.equal(tooMany.extensions?.['code'], 'BAD_USER_INPUT', 'graphql-js\'s "too many errors" is the caller\'s fault, not a server fault');
  // An argument that cannot take its value, reported by execution for one field (graphql-js gives it no code).
  const argumentText = 'Argument "id" of non-null type "ID!" must not be null.';
  const located = new GraphQLError(argumentText, { path: ['question'], originalError: new GraphQLError(argumentText) });
  assert.deepEqual(format({ message: argumentText, path: ['question'] }, located), { path: ['question'], message: argumentText, extensions: { code: 'BAD_USER_INPUT' } });
  const logsBefore = logged.length;
  format({ message: 'x' }, new GraphQLError('Argument "id" of non-null type "ID!" must not be null.', { originalError: new Error('a bug') }));
  assert.equal(logged.length, logsBefore + 1, 'a thrown error that happens to start with "Argument" is still a server fault');
});

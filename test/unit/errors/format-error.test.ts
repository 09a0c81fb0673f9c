import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphQLError } from 'graphql';
import { createFormatError } from '../../../src/errors/format-error.js';
import { NotFoundError } from '../../../src/errors/index.js';

const logged: object[] = [];
const format = createFormatError({ error: (obj) => logged.push(obj) });

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

test('anything else is masked and logged', () => {
  const secret = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
  const out = format({ message: secret.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } }, secret);
  assert.deepEqual(out, { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  assert.equal(logged.length, 1);
});

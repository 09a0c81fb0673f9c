/** The error catalogue stays honest: one class per code, each documented, each stamping its code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CLASSES, GATEWAY_ERROR_CODES, GatewayError } from '../../../src/errors/index.js';

test('every code has a class that stamps it, and a description', () => {
  assert.deepEqual(Object.keys(ERROR_CLASSES).sort(), Object.keys(GATEWAY_ERROR_CODES).sort());
  for (const [code, Cls] of Object.entries(ERROR_CLASSES)) {
    const err = new Cls('expected a thing, received another');
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, code);
    assert.equal(err.extensions['code'], code);
    assert.ok(GATEWAY_ERROR_CODES[code as keyof typeof GATEWAY_ERROR_CODES].length > 20, `${code} is documented`);
  }
});

test('details reach extensions; the cause stays out of what clients see', () => {
  const cause = new Error('secret internals at /srv/app.js:12');
  const err = new ERROR_CLASSES.QUERY_FAILED('Column "NOPE" not found', { details: { errorType: 'invalid-query' }, cause });
  assert.deepEqual(err.toJSON(), { message: 'Column "NOPE" not found', extensions: { code: 'QUERY_FAILED', errorType: 'invalid-query' } });
  assert.equal(err.originalError, cause);
  assert.ok(!JSON.stringify(err).includes('secret internals'));
});

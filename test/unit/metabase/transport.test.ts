/** The translation of Metabase's answers into gateway errors: fixed messages, safe extensions, Metabase's words only in `detail`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryFailure, toGatewayError } from '../../../src/metabase/transport.js';

test('a failed run keeps a known error type and Metabase\'s message as detail; an unknown type reads "unknown"', () => {
  const known = queryFailure({ status: 'failed', error: 'Column "NOPE" not found; SQL statement:\nSELECT NOPE FROM ORDERS [42122-214]', error_type: 'invalid-query' });
  assert.deepEqual([known.code, known.message, known.extensions['errorType']], ['QUERY_FAILED', 'The query failed in Metabase.', 'invalid-query']);
  assert.match(known.detail ?? '', /SELECT NOPE FROM ORDERS/);
  const odd = queryFailure({ status: 'failed', error: 'boom', error_type: 'org.postgresql.util.PSQLException at 10.2.3.4' });
  assert.equal(odd.extensions['errorType'], 'unknown', 'Metabase\'s free text never travels as an error type');
});

test('any non-success answer gets a fixed message; the page, the stack or the message Metabase sent is the detail, cut short', () => {
  const html = `<html><head><title>502 Bad Gateway</title></head><body><center>nginx/1.25.3</center>${'x'.repeat(10_000)}</body></html>`;
  const proxy = toGatewayError({ status: 502, body: html }, 'GET /api/card/2');
  assert.deepEqual([proxy.code, proxy.message, proxy.extensions['reason'], proxy.extensions['upstreamStatus']], ['UPSTREAM_UNAVAILABLE', 'Metabase failed to answer.', 'upstream-error', 502]);
  assert.match(proxy.detail ?? '', /^GET \/api\/card\/2 answered 502: <html>/);
  assert.ok((proxy.detail ?? '').length < 2_200, 'the detail is cut');
  const validation = toGatewayError({ status: 400, body: { errors: { id: 'value must be an integer greater than zero.' } } }, 'GET /api/card/x');
  assert.deepEqual([validation.code, validation.message, validation.extensions['upstreamStatus']], ['BAD_USER_INPUT', 'Metabase refused the request as invalid.', 400]);
  assert.equal(validation.extensions['upstreamErrors'], undefined, 'Metabase\'s validation map stays out of the extensions');
});

import { describe, expect, it } from 'vitest';
import { classifySdkError } from '../../src/sas/errors.js';

function apiError(statusCode: number, code: string) {
  return Object.assign(new Error(`${code}: code: ${statusCode}, msg request id: R1`), { statusCode, code, data: { RequestId: 'R1', Code: code } });
}

describe('classifySdkError', () => {
  it('403 NoPermission is an api error, not retried', () => {
    expect(classifySdkError(apiError(403, 'NoPermission'))).toMatchObject({ class: 'api', code: 'NoPermission', httpStatus: 403, retriable: false, requestId: 'R1' });
  });
  it('500 ServerError is retried', () => {
    expect(classifySdkError(apiError(500, 'ServerError'))).toMatchObject({ class: 'api', code: 'ServerError', retriable: true });
  });
  it('400 Throttling.User is throttling, retried', () => {
    expect(classifySdkError(apiError(400, 'Throttling.User'))).toMatchObject({ class: 'throttled', code: 'Throttling.User', retriable: true });
  });
  it('signature and argument errors are not retried', () => {
    expect(classifySdkError(apiError(400, 'SignatureDoesNotMatch'))).toMatchObject({ class: 'api', retriable: false });
    expect(classifySdkError(apiError(404, 'InvalidAccessKeyId.NotFound'))).toMatchObject({ class: 'api', retriable: false });
  });
  it('a timeout is a timeout', () => {
    const e = Object.assign(new Error('ReadTimeout(1000). POST http://127.0.0.1/ failed.'), { name: 'RequestTimeoutError' });
    expect(classifySdkError(e)).toMatchObject({ class: 'timeout', code: 'timeout', retriable: true });
  });
  it('a socket error is network, even though it shares the code field', () => {
    const e = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' });
    expect(classifySdkError(e)).toMatchObject({ class: 'network', code: 'network', retriable: true });
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND', syscall: 'getaddrinfo' });
    expect(classifySdkError(dns)).toMatchObject({ class: 'network' });
  });
  it('an unparseable body is bad_response', () => {
    expect(classifySdkError(new SyntaxError('Unexpected token < in JSON at position 0'))).toMatchObject({ class: 'bad_response', retriable: true });
    expect(classifySdkError(new Error('The value is not a object'))).toMatchObject({ class: 'bad_response' });
  });
  it('an answer past the size cap is response_too_large, not retried', () => {
    const e = Object.assign(new Error('the answer is larger than 4194304 bytes'), { name: 'ResponseTooLargeError' });
    expect(classifySdkError(e)).toMatchObject({ class: 'response_too_large', code: 'response_too_large', retriable: false });
  });
  it('missing credentials are credentials, not retried', () => {
    expect(classifySdkError(Object.assign(new Error('no creds'), { code: 'InvalidCredentials' }))).toMatchObject({ class: 'credentials', retriable: false });
  });
  it('keeps messages to one short line', () => {
    const e = new Error('a\nb '.repeat(500));
    const m = classifySdkError(e).message;
    expect(m).not.toContain('\n');
    expect(m.length).toBeLessThanOrEqual(303);
  });
});

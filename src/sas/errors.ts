/**
 * Classifies whatever @alicloud/openapi-client throws into a SasError. The
 * SDK mixes API codes and Node system error codes in one `code` field, so the
 * order of the checks matters: HTTP status first, then socket errors.
 */
import type { SasError } from './types.js';

const MAX_MESSAGE = 300;

function shortMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // The SDK's messages carry the request URL; keep the line short and single.
  const oneLine = msg.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE ? oneLine.slice(0, MAX_MESSAGE) + '...' : oneLine;
}

export function isThrottlingCode(code: string): boolean {
  return /^Throttling/i.test(code) || code === 'ServiceUnavailable.Throttling';
}

/** A socket error (`syscall`, an `E...` code) or a hang-up: the network failed, not the service. */
function isSocketFailure(e: Record<string, unknown>, message: string): boolean {
  return typeof e.syscall === 'string' || (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) || /socket hang up/i.test(message);
}

/** The network failed or timed out (a retry may cure it): for errors that are not the SDK's, such as a credentials provider's. */
export function isNetworkFailure(err: unknown): boolean {
  const e = (err ?? {}) as Record<string, unknown>;
  const name = err instanceof Error ? err.name : typeof e.name === 'string' ? e.name : '';
  return isSocketFailure(e, err instanceof Error ? err.message : '') || /timeout/i.test(name);
}

export function classifySdkError(err: unknown): SasError {
  const e = (err ?? {}) as Record<string, unknown>;
  const message = shortMessage(err);
  const statusCode = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const data = (e.data && typeof e.data === 'object' ? e.data : {}) as Record<string, unknown>;
  const requestId = typeof data.RequestId === 'string' ? data.RequestId : undefined;
  const name = err instanceof Error ? err.name : typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : undefined;

  if (statusCode !== undefined) {
    const apiCode = code && code !== '' ? code : `HTTP${statusCode}`;
    if (statusCode === 429 || isThrottlingCode(apiCode)) {
      return { class: 'throttled', code: apiCode, httpStatus: statusCode, retriable: true, message, requestId };
    }
    return { class: 'api', code: apiCode, httpStatus: statusCode, retriable: statusCode >= 500, message, requestId };
  }
  if (name === 'CredentialProviderError') {
    // Checked before socket errors: a provider's network trouble is the provider's, retried; a refusal is not.
    return { class: 'credentials', code: 'credentials', retriable: (err as { transient?: boolean }).transient === true, message };
  }
  if (name === 'ResponseTooLargeError') {
    // The size of an answer is a property of what is asked: the same call gets the same answer. Not retried.
    return { class: 'response_too_large', code: 'response_too_large', retriable: false, message };
  }
  if (name === 'RequestTimeoutError' || /timeout/i.test(name)) {
    return { class: 'timeout', code: 'timeout', retriable: true, message };
  }
  if (isSocketFailure(e, message)) {
    return { class: 'network', code: 'network', retriable: true, message: code && !message.includes(code) ? `${code}: ${message}` : message };
  }
  if (err instanceof SyntaxError || /not a object|not an object|Unexpected token|JSON/i.test(message)) {
    return { class: 'bad_response', code: 'bad_response', retriable: true, message: `unparseable response body: ${message}` };
  }
  if (code === 'InvalidCredentials' || /credential/i.test(message)) {
    return { class: 'credentials', code: 'credentials', retriable: false, message };
  }
  // Unknown shapes are treated as transport trouble: retry, count, never crash.
  return { class: 'network', code: 'network', retriable: true, message };
}

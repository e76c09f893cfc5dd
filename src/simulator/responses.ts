/**
 * Bodies of the answers, success and broken ones alike. Kept apart from the
 * server so each broken shape is visible in one place and matches what the
 * SDK is known to do with it (sas-api.md "Errors thrown by callApi").
 */
import type { Target, TargetInfoFormat } from './model.js';

export interface RawAnswer {
  readonly status: number;
  readonly contentType?: string;
  readonly body: string;
}

export const JSON_TYPE = 'application/json;charset=utf-8';

export function successBody(
  requestId: string,
  status: string,
  targets: readonly Target[],
  format: TargetInfoFormat,
  targetInfo: 'normal' | 'malformed' | 'missing' = 'normal',
): string {
  const list = targets.map((t) => ({ type: t.type, name: t.name, target: t.target }));
  const body: Record<string, unknown> = { RequestId: requestId, ScanTaskProgress: status };
  if (targetInfo === 'normal') body.TargetInfo = format === 'array' ? list : JSON.stringify(list);
  // Cut mid-element: the string is JSON-looking, so only a real parse catches it.
  else if (targetInfo === 'malformed') body.TargetInfo = JSON.stringify(list.length ? list : [{ type: 'uuid', name: 'x', target: 'y' }]).slice(0, -12);
  return JSON.stringify(body);
}

/** What a load balancer in front of the service sends when the backend is gone. */
export const HTML_502: RawAnswer = {
  status: 502,
  contentType: 'text/html',
  body:
    '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
    '<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n',
};

export const EMPTY_500: RawAnswer = { status: 500, contentType: JSON_TYPE, body: '' };

export const GARBAGE_200: RawAnswer = { status: 200, contentType: 'text/plain;charset=utf-8', body: 'OK\x00<not json>' };

/** Valid JSON, but not an object: the SDK throws 'The value is not a object'. */
export const NON_OBJECT_200: RawAnswer = { status: 200, contentType: JSON_TYPE, body: '["Success"]' };

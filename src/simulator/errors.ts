/**
 * The error answers of the simulated service. Codes, HTTP statuses and
 * messages mirror Alibaba Cloud's common error codes and the two errors the
 * DescribeScanTaskProgress page documents, so the exporter's error
 * classification is exercised with what it will meet in production.
 */
export const HOST_ID = 'tds.aliyuncs.com';

export interface ApiError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Codes the simulator can answer with; faults of kind `api_error` may add others. */
export const ERRORS = {
  incompleteSignature: (detail: string): ApiError => ({
    status: 400,
    code: 'IncompleteSignature',
    message: `The request signature does not conform to Aliyun standards. ${detail}`,
  }),
  missingParameter: (name: string): ApiError => ({
    status: 400,
    code: 'MissingParameter',
    message: `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
  }),
  accessKeyNotFound: (): ApiError => ({
    status: 404,
    code: 'InvalidAccessKeyId.NotFound',
    message: 'Specified access key is not found.',
  }),
  signatureMismatch: (stringToSign?: string): ApiError => ({
    status: 400,
    code: 'SignatureDoesNotMatch',
    // The real service shows its string to sign so a client can diff it with
    // its own; it holds hashes only, never the secret.
    message:
      'Specified signature is not matched with our calculation.' +
      (stringToSign === undefined ? '' : ` server string to sign is:${stringToSign}`),
  }),
  contentHashMismatch: (): ApiError => ({
    status: 400,
    code: 'SignatureDoesNotMatch',
    message: 'Specified signature is not matched with our calculation. x-acs-content-sha256 does not match the request body.',
  }),
  nonceUsed: (): ApiError => ({
    status: 400,
    code: 'SignatureNonceUsed',
    message: 'Specified signature nonce was used already.',
  }),
  timestampExpired: (): ApiError => ({
    status: 400,
    code: 'InvalidTimeStamp.Expired',
    message: 'Specified time stamp or date value is expired.',
  }),
  timestampFormat: (): ApiError => ({
    status: 400,
    code: 'InvalidTimeStamp.Format',
    message: 'Specified time stamp or date value is not well formatted.',
  }),
  securityTokenMismatch: (): ApiError => ({
    status: 400,
    code: 'InvalidSecurityToken.MismatchWithAccessKey',
    message: 'Specified SecurityToken mismatch with the AccessKey.',
  }),
  actionNotFound: (): ApiError => ({
    status: 404,
    code: 'InvalidAction.NotFound',
    message: 'Specified api is not found, please check your url and method.',
  }),
  invalidVersion: (): ApiError => ({
    status: 400,
    code: 'InvalidVersion',
    message: 'Specified parameter Version is not valid.',
  }),
  missingTaskId: (): ApiError => ({
    status: 400,
    code: 'MissingTaskId',
    message: 'TaskId is mandatory for this action.',
  }),
  invalidTaskId: (): ApiError => ({
    status: 400,
    code: 'InvalidParameter',
    message: 'The specified parameter TaskId is not valid.',
  }),
  taskNotExist: (): ApiError => ({
    status: 400,
    code: 'TaskNotExist',
    message: 'The specified task does not exist.',
  }),
  throttling: (): ApiError => ({
    status: 400,
    code: 'Throttling.User',
    message: 'Request was denied due to user flow control.',
  }),
  noPermission: (): ApiError => ({
    status: 403,
    code: 'NoPermission',
    message: 'caller has no permission',
  }),
  serverError: (): ApiError => ({
    status: 500,
    code: 'ServerError',
    message: 'ServerError',
  }),
  payloadTooLarge: (): ApiError => ({
    status: 413,
    code: 'RequestEntityTooLarge',
    message: 'The request body is too large.',
  }),
} as const;

/** `service`: the answering service's host and product name (STS answers with its own). */
export function errorBody(requestId: string, err: ApiError, service: { readonly hostId: string; readonly product: string } = { hostId: HOST_ID, product: 'Sas' }): string {
  return JSON.stringify({
    RequestId: requestId,
    HostId: service.hostId,
    Code: err.code,
    Message: err.message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(err.code)}&product=${service.product}&requestId=${requestId}`,
  });
}

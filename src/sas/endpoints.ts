/**
 * Region -> endpoint, as the newest generated SDKs map it: every mainland
 * China region is served from Shanghai, everything else from Singapore.
 */
export const CHINA_ENDPOINT = 'tds.cn-shanghai.aliyuncs.com';
export const INTERNATIONAL_ENDPOINT = 'tds.ap-southeast-1.aliyuncs.com';

export function endpointForRegion(region: string): string {
  return region.startsWith('cn-') ? CHINA_ENDPOINT : INTERNATIONAL_ENDPOINT;
}

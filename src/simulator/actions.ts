/** The API actions the simulator serves, by product. */
import { STS_ACTION } from './sts.js';
import { LIST_ACTION, STATISTIC_ACTION } from './virusScan.js';

export const DESCRIBE_ACTION = 'DescribeScanTaskProgress';
/** Security Center (SAS, 2018-12-03). */
export const SAS_VERSION = '2018-12-03';
export const SAS_ACTIONS: readonly string[] = [DESCRIBE_ACTION, STATISTIC_ACTION, LIST_ACTION];
/** Every action, STS's AssumeRole included: what a fault's `actions` may name. */
export const ALL_ACTIONS: readonly string[] = [...SAS_ACTIONS, STS_ACTION];

export { LIST_ACTION, STATISTIC_ACTION, STS_ACTION };

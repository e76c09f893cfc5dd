/** The API actions the simulator serves, by product: Security Center's from the shared vocabulary, and STS's. */
import { ACTIONS, API_VERSION } from '../model/vocabulary.js';
import { STS_ACTION } from './sts.js';

export const DESCRIBE_ACTION = ACTIONS.describeScanTaskProgress;
export const STATISTIC_ACTION = ACTIONS.getVirusScanLatestTaskStatistic;
export const LIST_ACTION = ACTIONS.listVirusScanTask;
/** Security Center (SAS, 2018-12-03). */
export const SAS_VERSION = API_VERSION;
export const SAS_ACTIONS: readonly string[] = Object.values(ACTIONS);
/** Every action, STS's AssumeRole included: what a fault's `actions` may name. */
export const ALL_ACTIONS: readonly string[] = [...SAS_ACTIONS, STS_ACTION];

export { STS_ACTION };

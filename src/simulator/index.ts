/** The simulator's in-process API: what tests, benchmarks and the exporter's demo mode import. */
export { startSimulator, ACTION, API_VERSION, type ListenerAddress, type SimulatorHandle, type SimulatorOptions } from './server.js';
export { loadScenarioFile, parseScenario, buildScenario, ScenarioError, type ScenarioIssue, type ScenarioInput } from './scenario.js';
export { statusAt, settlesAtMs } from './timeline.js';
export {
  achievedQps,
  type AccountCounts,
  type ActionCounts,
  type SimulatorCounts,
  type TaskCounts,
  type ArrivalSecond,
} from './counters.js';
export {
  DEMO_CREDENTIALS,
  FAULT_KINDS,
  RESULT_FAULT_KINDS,
  SCAN_STATUSES,
  type AccountFaultSpec,
  type FaultKind,
  type FaultSpec,
  type ResultFaultKind,
  type KeyPair,
  type Scenario,
  type ScanStatus,
  type Target,
  type TargetInfoFormat,
  type ScenarioTask,
  type TimelineStep,
} from './model.js';
export { DEFAULT_ACCOUNT, accountsOf, type AccountSpec, type IssuedCredential, type RoleSpec } from './accounts.js';
export { ALL_ACTIONS, SAS_ACTIONS, LIST_ACTION, STATISTIC_ACTION, STS_ACTION } from './actions.js';
export { STS_VERSION, TOKEN_EXPIRED } from './sts.js';
export {
  MACHINE_STATUSES,
  MACHINE_STATUS_CODES,
  MAX_PAGE_SIZE,
  ROOT_STATUS,
  SUBTASK_NAME,
  compileScans,
  latestScan,
  machineAt,
  statisticData,
  type MachineSpec,
  type MachineGenerator,
  type VirusScanSpec,
} from './virusScan.js';

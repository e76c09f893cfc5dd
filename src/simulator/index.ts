/** The simulator's in-process API: what tests, benchmarks and the exporter's demo mode import. */
export { startSimulator, ACTION, API_VERSION, type SimulatorHandle, type SimulatorOptions } from './server.js';
export { loadScenarioFile, parseScenario, buildScenario, ScenarioError, type ScenarioIssue, type ScenarioInput } from './scenario.js';
export { statusAt, settlesAtMs } from './timeline.js';
export { achievedQps, type SimulatorCounts, type TaskCounts, type ArrivalSecond } from './counters.js';
export {
  DEMO_CREDENTIALS,
  FAULT_KINDS,
  SCAN_STATUSES,
  type FaultKind,
  type FaultSpec,
  type KeyPair,
  type Scenario,
  type ScanStatus,
  type Target,
  type TargetInfoFormat,
  type TaskSpec,
  type TimelineStep,
} from './model.js';

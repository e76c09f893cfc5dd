/**
 * Which fault, if any, applies to a call. The choice is a pure function of
 * the rules' state and the elapsed time; the only state is each rule's fire
 * count and its own PRNG stream, so one task's traffic never shifts which
 * calls of another task fail.
 */
import { ALL_ACTIONS, DESCRIBE_ACTION, LIST_ACTION, STATISTIC_ACTION, STS_ACTION } from './actions.js';
import { FAULT_KINDS, RESULT_FAULT_KINDS, type AccountFaultSpec } from './model.js';
import { hash32, mulberry32 } from './prng.js';

/** Kinds that bend one action's answer, and so only ever fire on calls of that action. */
const KIND_ACTIONS: Partial<Record<AccountFaultSpec['kind'], readonly string[]>> = {
  malformed_target_info: [DESCRIBE_ACTION],
  missing_target_info: [DESCRIBE_ACTION],
  undocumented_status: [DESCRIBE_ACTION],
  empty_page: [LIST_ACTION],
  total_count_mismatch: [LIST_ACTION],
  missing_data: [STATISTIC_ACTION],
};

/** The actions a fault of this kind can apply to. */
export function actionsOfKind(kind: AccountFaultSpec['kind']): readonly string[] {
  return KIND_ACTIONS[kind] ?? ALL_ACTIONS;
}

/**
 * Whether a rule may fire on a call of `action`: the kind must fit the
 * action and, when the spec names actions, the action must be one of them.
 * Without `actions` a fault applies to every Security Center action (not to
 * AssumeRole, which is another service). An unknown action (unit tests of
 * the rules alone) passes.
 */
export function faultAppliesTo(spec: AccountFaultSpec, action: string | undefined): boolean {
  if (action === undefined) return true;
  const kindActions = KIND_ACTIONS[spec.kind];
  if (kindActions && !kindActions.includes(action)) return false;
  if (spec.actions) return spec.actions.includes(action);
  return action !== STS_ACTION;
}

export interface FaultRule {
  readonly spec: AccountFaultSpec;
  /** How many calls this rule has fired on. */
  fired: number;
  readonly random: () => number;
}

export interface FaultDecision {
  /** Sum of the `latency` faults that fired. */
  readonly latencyMs: number;
  /** The first non-latency fault that fired: it decides the answer. */
  readonly fault?: AccountFaultSpec;
  /** Every rule that fired, latency included, in order. */
  readonly fired: readonly AccountFaultSpec[];
}

/** `scope` names the owner ("task:282832", "global"), so each rule gets its own stream. */
export function makeRules(specs: readonly AccountFaultSpec[], seed: number, scope: string): FaultRule[] {
  return specs.map((spec, i) => ({ spec, fired: 0, random: mulberry32(hash32(`${seed}/${scope}/${i}`)) }));
}

/** Whether the rule fires on this call; consumes a draw only when it had a chance to. */
export function ruleFires(rule: FaultRule, elapsedMs: number, action?: string): boolean {
  const s = rule.spec;
  if (!faultAppliesTo(s, action)) return false;
  if (s.fromMs !== undefined && elapsedMs < s.fromMs) return false;
  if (s.toMs !== undefined && elapsedMs >= s.toMs) return false;
  if (s.times !== undefined && rule.fired >= s.times) return false;
  if (s.rate !== undefined && !(rule.random() < s.rate)) return false;
  rule.fired++;
  return true;
}

/**
 * Rule lists are tried in the order given (the task's own, then the global
 * ones). Latency adds up and lets evaluation go on, so a global delay
 * composes with a task's error; the first other rule that fires wins.
 */
export function chooseFault(ruleLists: ReadonlyArray<readonly FaultRule[]>, elapsedMs: number, action?: string): FaultDecision {
  let latencyMs = 0;
  const fired: AccountFaultSpec[] = [];
  for (const rules of ruleLists) {
    for (const rule of rules) {
      if (!ruleFires(rule, elapsedMs, action)) continue;
      fired.push(rule.spec);
      if (rule.spec.kind === 'latency') {
        latencyMs += rule.spec.latencyMs ?? 0;
        continue;
      }
      return { latencyMs, fault: rule.spec, fired };
    }
  }
  return { latencyMs, fired };
}

/** The invariants the YAML schema enforces, for specs built in code (`handle.setFaults`). */
export function checkFaultSpec(spec: AccountFaultSpec): string | undefined {
  if (![...FAULT_KINDS, ...RESULT_FAULT_KINDS].includes(spec.kind)) return `unknown fault kind ${JSON.stringify(spec.kind)}`;
  if (spec.rate !== undefined && !(spec.rate >= 0 && spec.rate <= 1)) return 'rate must be between 0 and 1';
  if (spec.times !== undefined && !(Number.isSafeInteger(spec.times) && spec.times > 0)) return 'times must be a positive integer';
  for (const [name, v] of [['fromMs', spec.fromMs], ['toMs', spec.toMs], ['latencyMs', spec.latencyMs]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) return `${name} must be a non-negative number of milliseconds`;
  }
  if (spec.fromMs !== undefined && spec.toMs !== undefined && spec.toMs <= spec.fromMs) return 'the window must end after it starts';
  if (spec.actions !== undefined) {
    if (!Array.isArray(spec.actions) || spec.actions.length === 0) return 'actions must be a non-empty list';
    const allowed = actionsOfKind(spec.kind);
    for (const a of spec.actions) if (!allowed.includes(a)) return `kind ${spec.kind} does not apply to action ${JSON.stringify(a)}`;
  }
  if (spec.delta !== undefined && !Number.isSafeInteger(spec.delta)) return 'delta must be an integer';
  if (spec.kind === 'api_error') {
    if (!spec.code) return 'api_error needs a code';
    if (spec.httpStatus !== undefined && !(Number.isInteger(spec.httpStatus) && spec.httpStatus >= 400 && spec.httpStatus <= 599)) {
      return 'api_error http status must be 400..599';
    }
  }
  return undefined;
}

/** The outcome label a fault is counted under when it decides the answer. */
export function faultOutcome(kind: AccountFaultSpec['kind'], spec?: AccountFaultSpec): string {
  switch (kind) {
    case 'no_permission':
      return 'NoPermission';
    case 'server_error':
      return 'ServerError';
    case 'throttling':
      return 'Throttling.User';
    case 'api_error':
      return spec?.code ?? 'api_error';
    default:
      return kind;
  }
}

/**
 * Bounds on label values that come from the API: error codes, target types,
 * target IDs and names, and in the latest-scan families the scan's task ID
 * and type, and each machine's UUID, instance name and IP addresses. Each
 * is a series (or part of one) in /metrics, so a
 * service that answers with a new code on every call, or with megabyte-long
 * names, would otherwise grow the exporter's memory and every scrape without
 * end. Applied where the values become labels: the API call counter
 * (self.ts) and the families (taskFamilies.ts, scanFamilies.ts, render.ts).
 *
 * - A known value (a documented code, `uuid`, `groupId`) is kept as is.
 * - Any value is cut to MAX_LABEL_VALUE_CHARS characters.
 * - For labels with a bound on distinct values (`code`, `target_type`, `scan_type`), the
 *   first `maxOthers` unknown values seen are kept; later ones become
 *   `other` (a value once kept stays kept, so a series never changes name).
 * - Targets past MAX_TARGET_SERIES_PER_TASK in one task are not exported as
 *   target_info series (they are still counted in `..._targets`).
 *
 * Each replacement is counted when it is applied, in
 * aliyun_sas_exporter_label_values_limited_total{label, reason}.
 */
import { ERROR_CLASSES, KNOWN_API_CODES, TARGET_TYPES } from '../model/vocabulary.js';

/** Longest label value exported; longer ones are cut. A server name is at most 128 characters in ECS. */
export const MAX_LABEL_VALUE_CHARS = 128;
/** Distinct error codes beyond the known ones, over the process' lifetime. */
export const MAX_OTHER_CODES = 32;
/** Distinct target types beyond `uuid` and `groupId`. */
export const MAX_OTHER_TARGET_TYPES = 8;
/** target_info series of one task; the rest are dropped (and counted). */
export const MAX_TARGET_SERIES_PER_TASK = 10_000;
/** The value that replaces unknown values past the bound. */
export const OTHER = 'other';

export const LIMITED_LABELS = ['code', 'target_type', 'target', 'target_name', 'scan_type', 'scan_task_id', 'uuid', 'instance_name', 'ip'] as const;
export type LimitedLabel = (typeof LIMITED_LABELS)[number];
export const LIMIT_REASONS = ['other', 'truncated', 'dropped'] as const;
export type LimitReason = (typeof LIMIT_REASONS)[number];
/** The reasons that can happen to each label: the counter's series, all initialised to 0. */
export const LIMIT_SERIES: ReadonlyArray<readonly [LimitedLabel, LimitReason]> = [
  ['code', 'other'],
  ['code', 'truncated'],
  ['target_type', 'other'],
  ['target_type', 'truncated'],
  ['target', 'truncated'],
  ['target', 'dropped'],
  ['target_name', 'truncated'],
  ['scan_type', 'other'],
  ['scan_type', 'truncated'],
  ['scan_task_id', 'truncated'],
  ['uuid', 'truncated'],
  ['instance_name', 'truncated'],
  ['ip', 'truncated'],
];
/** The two scan types GetVirusScanLatestTaskStatistic documents; others are bounded. */
const SCAN_TYPES = ['system', 'user', ''];
export const MAX_OTHER_SCAN_TYPES = 8;

export type OnLimited = (label: LimitedLabel, reason: LimitReason, count?: number) => void;

/** `s` cut to `max` UTF-16 code units, never in the middle of a surrogate pair. */
export function cutLabelValue(s: string, max = MAX_LABEL_VALUE_CHARS): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.slice(0, end);
}

export interface BoundOptions {
  readonly known?: Iterable<string>;
  /** Distinct unknown values kept; undefined: no bound on distinct values (only on length). */
  readonly maxOthers?: number;
  readonly maxChars?: number;
}

export class LabelValueBound {
  private readonly known: ReadonlySet<string>;
  private readonly others = new Set<string>();
  private readonly maxOthers: number | undefined;
  private readonly maxChars: number;

  constructor(
    readonly label: LimitedLabel,
    opts: BoundOptions,
    private readonly onLimited: OnLimited,
  ) {
    this.known = new Set(opts.known ?? []);
    this.maxOthers = opts.maxOthers;
    this.maxChars = opts.maxChars ?? MAX_LABEL_VALUE_CHARS;
  }

  /** The value to export for `value`; `count: false` when the same value was already counted elsewhere. */
  apply(value: string, count = true): string {
    // Most bounds (target, uuid, names, IPs) only cut the length: a value
    // fresh from a parsed answer is then never hashed for a set lookup.
    if (this.maxOthers === undefined && value.length <= this.maxChars) return value;
    if (this.known.has(value)) return value;
    let v = value;
    if (v.length > this.maxChars) {
      v = cutLabelValue(v, this.maxChars);
      if (count) this.onLimited(this.label, 'truncated');
    }
    if (this.maxOthers === undefined || this.known.has(v) || this.others.has(v)) return v;
    if (this.others.size < this.maxOthers) {
      this.others.add(v);
      return v;
    }
    if (count) this.onLimited(this.label, 'other');
    return OTHER;
  }

  /** Unknown values kept so far (for tests and the bound's own accounting). */
  get distinctOthers(): number {
    return this.others.size;
  }
}

/** The bounds of every API-provided label, shared by the self-metrics and the families. */
export class LabelLimits {
  readonly code: LabelValueBound;
  readonly targetType: LabelValueBound;
  readonly target: LabelValueBound;
  readonly targetName: LabelValueBound;
  /** The latest scan's task ID (32 hex digits when documented) and the machines' root task ID. */
  readonly scanTaskId: LabelValueBound;
  readonly scanType: LabelValueBound;
  readonly uuid: LabelValueBound;
  readonly instanceName: LabelValueBound;
  /** internet_ip and intranet_ip. */
  readonly ip: LabelValueBound;
  readonly maxTargetsPerTask: number;

  constructor(
    private readonly onLimited: OnLimited = () => undefined,
    opts: { maxOtherCodes?: number; maxOtherTargetTypes?: number; maxChars?: number; maxTargetsPerTask?: number } = {},
  ) {
    const maxChars = opts.maxChars ?? MAX_LABEL_VALUE_CHARS;
    this.code = new LabelValueBound('code', { known: ['OK', ...ERROR_CLASSES, ...KNOWN_API_CODES], maxOthers: opts.maxOtherCodes ?? MAX_OTHER_CODES, maxChars }, onLimited);
    this.targetType = new LabelValueBound('target_type', { known: TARGET_TYPES, maxOthers: opts.maxOtherTargetTypes ?? MAX_OTHER_TARGET_TYPES, maxChars }, onLimited);
    this.target = new LabelValueBound('target', { maxChars }, onLimited);
    this.targetName = new LabelValueBound('target_name', { maxChars }, onLimited);
    this.scanTaskId = new LabelValueBound('scan_task_id', { maxChars }, onLimited);
    this.scanType = new LabelValueBound('scan_type', { known: SCAN_TYPES, maxOthers: MAX_OTHER_SCAN_TYPES, maxChars }, onLimited);
    this.uuid = new LabelValueBound('uuid', { maxChars }, onLimited);
    this.instanceName = new LabelValueBound('instance_name', { maxChars }, onLimited);
    this.ip = new LabelValueBound('ip', { maxChars }, onLimited);
    this.maxTargetsPerTask = opts.maxTargetsPerTask ?? MAX_TARGET_SERIES_PER_TASK;
  }

  /** Targets of one task left out of target_info. */
  dropped(targets: number): void {
    if (targets > 0) this.onLimited('target', 'dropped', targets);
  }
}

/** Bounds that count nothing: for renders outside the exporter (tests, the benchmark's reference). */
export const UNCOUNTED_LABEL_LIMITS = new LabelLimits();

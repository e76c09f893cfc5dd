/**
 * Accounts: who a call belongs to. Each account has its own key pairs, tasks,
 * latest scans, flow-control ceiling and faults; a call belongs to the
 * account of the access key that signed it, or, for temporary credentials
 * issued by AssumeRole, to the account of the role that was assumed.
 *
 * The single-account scenario (everything at the top level) is one account
 * named `default`.
 */
import { randomBytes } from 'node:crypto';
import { canonicalTaskId } from '../config/taskId.js';
import { checkFaultSpec, makeRules, type FaultRule } from './faults.js';
import type { AccountFaultSpec, Scenario, TargetInfoFormat, ScenarioTask } from './model.js';
import { SlidingWindowLimiter } from './qps.js';
import type { KeyPair } from './signature.js';
import { compileScans, type CompiledScan, type NoScanData, type VirusScanSpec } from './virusScan.js';

export const DEFAULT_ACCOUNT = 'default';

export interface RoleSpec {
  /** `acs:ram::<account uid>:role/<name>` */
  readonly arn: string;
  /** When set, AssumeRole must carry exactly this ExternalId. */
  readonly externalId?: string;
  /**
   * Who may assume it: access key IDs of static pairs (any account's), or
   * ARNs of roles whose temporary credentials may chain into this one.
   * Undefined: every static access key of the scenario.
   */
  readonly assumableBy?: readonly string[];
  /**
   * How long issued credentials are accepted, overriding DurationSeconds
   * (which the provider cannot set below 900 s). Undefined: DurationSeconds.
   */
  readonly lifetimeMs?: number;
  /**
   * What `Expiration` announces, when it should differ from the true lifetime. Default: the lifetime.
   * The RAM role ARN provider of @alicloud/credentials 2.4 (providers/session.js, STALE_TIME 15 min)
   * assumes the role again once now >= Expiration - 900 s: an announced 903 s is refreshed about
   * 3 s after issue, 900 s or less before every call. A short true lifetime with a longer announced
   * one (1 s and 903 s) makes SAS calls fail with InvalidSecurityToken.Expired until that refresh.
   */
  readonly reportedLifetimeMs?: number;
  /** Largest DurationSeconds accepted (the role's maximum session duration). */
  readonly maxSessionDurationS: number;
}

export interface AccountSpec {
  readonly name: string;
  readonly credentials: readonly KeyPair[];
  readonly targetInfoFormat: TargetInfoFormat;
  readonly qpsLimit?: number;
  /** Apply to every call of the account, after a task's own faults; `actions` narrows them. */
  readonly faults: readonly AccountFaultSpec[];
  readonly tasks: readonly ScenarioTask[];
  readonly roles: readonly RoleSpec[];
  readonly virusScans: readonly VirusScanSpec[];
  readonly noScanData: NoScanData;
}

export const DEFAULT_MAX_SESSION_DURATION_S = 3600;

/**
 * The accounts of a scenario. With one account, its key pairs, tasks, faults,
 * flow control and TargetInfo format are read from the scenario's top-level
 * fields, as before accounts existed, so a caller that edits those (or builds
 * a scenario by hand, without `accounts`) gets what it asked for.
 */
export function accountsOf(s: Scenario): readonly AccountSpec[] {
  if (s.accounts && s.accounts.length > 1) return s.accounts;
  const first = s.accounts?.[0];
  return [
    {
      name: first?.name ?? DEFAULT_ACCOUNT,
      credentials: s.credentials,
      targetInfoFormat: s.targetInfoFormat,
      ...(s.qpsLimit !== undefined ? { qpsLimit: s.qpsLimit } : {}),
      faults: s.faults,
      tasks: s.tasks,
      roles: first?.roles ?? [],
      virusScans: first?.virusScans ?? [],
      noScanData: first?.noScanData ?? 'absent',
    },
  ];
}

/** Mutable state of one account while the simulator runs. */
export class AccountRuntime {
  readonly name: string;
  readonly tasks: ReadonlyMap<string, ScenarioTask>;
  readonly scans: readonly CompiledScan[];
  private readonly taskRules = new Map<string, FaultRule[]>();
  private accountRules: FaultRule[];
  private limiter: SlidingWindowLimiter | undefined;

  /**
   * `scope` prefixes the PRNG stream names: empty for the single-account
   * form, so its rate faults fail the very calls they failed before accounts existed.
   */
  constructor(
    readonly spec: AccountSpec,
    private readonly seed: number,
    private readonly scope: string,
  ) {
    this.name = spec.name;
    this.tasks = new Map(spec.tasks.map((t) => [t.id, t]));
    for (const t of spec.tasks) if (t.faults.length) this.taskRules.set(t.id, makeRules(t.faults, seed, `${scope}task:${t.id}`));
    this.accountRules = makeRules(spec.faults, seed, `${scope}global`);
    this.limiter = spec.qpsLimit !== undefined ? new SlidingWindowLimiter(spec.qpsLimit) : undefined;
    this.scans = compileScans(spec.virusScans, seed, scope === '' ? DEFAULT_ACCOUNT : scope);
  }

  /** Rule lists in the order they are tried for a call about `taskId` (or none). */
  rules(taskId?: string): ReadonlyArray<readonly FaultRule[]> {
    const own = taskId === undefined ? undefined : this.taskRules.get(taskId);
    return own ? [own, this.accountRules] : [this.accountRules];
  }

  setFaults(taskId: string, faults: readonly AccountFaultSpec[]): void {
    for (const f of faults) {
      const problem = checkFaultSpec(f);
      if (problem) throw new Error(`setFaults: ${problem}`);
    }
    const normalised = faults.map((f) => ({ ...f }));
    if (taskId === '*') {
      this.accountRules = makeRules(normalised, this.seed, `${this.scope}global`);
      return;
    }
    const id = canonicalTaskId(taskId);
    if (id === undefined) throw new Error(`setFaults: ${JSON.stringify(taskId)} is not a task ID`);
    if (normalised.length) this.taskRules.set(id, makeRules(normalised, this.seed, `${this.scope}task:${id}`));
    else this.taskRules.delete(id);
  }

  setQpsLimit(qps: number | undefined): void {
    if (qps === undefined) this.limiter = undefined;
    else if (!(qps > 0)) throw new Error('setQpsLimit: qps must be positive');
    else if (this.limiter) this.limiter.setLimit(qps);
    else this.limiter = new SlidingWindowLimiter(qps);
  }

  /** Flow control: false when the call is over the account's ceiling. */
  admit(nowMs: number): boolean {
    return this.limiter ? this.limiter.tryAcquire(nowMs) : true;
  }
}

/** Temporary credentials handed out by AssumeRole. */
export interface IssuedCredential {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken: string;
  /** Wall-clock ms after which calls signed with it fail (InvalidSecurityToken.Expired). */
  expiresAtMs: number;
  /** What the answer's Expiration said (ISO 8601 UTC, whole seconds). */
  readonly expiration: string;
  readonly roleArn: string;
  readonly roleSessionName: string;
  /** The account of the role: calls signed with this credential belong to it. */
  readonly account: string;
  readonly issuedAtMs: number;
}

export interface KeyOwner {
  readonly pair: KeyPair;
  readonly account: AccountRuntime;
  /** Set for credentials issued by AssumeRole. */
  readonly issued?: IssuedCredential;
}

/** Issued credentials are kept this long past expiry, so a late call hears "expired" rather than "not found". */
const ISSUED_KEPT_AFTER_EXPIRY_MS = 24 * 3600_000;
const MAX_ISSUED = 100_000;

/** Every access key the simulator knows: the scenario's static pairs and the credentials STS issued. */
export class KeyRing {
  private readonly staticKeys = new Map<string, KeyOwner>();
  private readonly issued = new Map<string, IssuedCredential>();

  constructor(private readonly accounts: ReadonlyMap<string, AccountRuntime>) {
    for (const account of accounts.values()) {
      for (const pair of account.spec.credentials) this.staticKeys.set(pair.accessKeyId, { pair, account });
    }
  }

  find(accessKeyId: string): KeyOwner | undefined {
    const s = this.staticKeys.get(accessKeyId);
    if (s) return s;
    const c = this.issued.get(accessKeyId);
    if (!c) return undefined;
    const account = this.accounts.get(c.account);
    if (!account) return undefined;
    return {
      pair: { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken },
      account,
      issued: c,
    };
  }

  isStatic(accessKeyId: string): boolean {
    return this.staticKeys.has(accessKeyId);
  }

  /**
   * Issues a fresh credential. Expiration is rounded down to whole seconds
   * (the format has none smaller), so a client never believes a credential
   * lives longer than it does.
   */
  issue(o: {
    roleArn: string;
    roleSessionName: string;
    account: string;
    nowMs: number;
    lifetimeMs: number;
    reportedLifetimeMs: number;
  }): IssuedCredential {
    this.prune(o.nowMs);
    const expiresAtMs = o.nowMs + o.lifetimeMs;
    const reportedMs = Math.floor((o.nowMs + o.reportedLifetimeMs) / 1000) * 1000;
    const c: IssuedCredential = {
      accessKeyId: `STS.${token(21)}`,
      accessKeySecret: token(33),
      securityToken: `CAIS${token(150)}`,
      expiresAtMs,
      expiration: new Date(reportedMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      roleArn: o.roleArn,
      roleSessionName: o.roleSessionName,
      account: o.account,
      issuedAtMs: o.nowMs,
    };
    this.issued.set(c.accessKeyId, c);
    return c;
  }

  /** Makes issued credentials (one, or all) expire now. Returns how many changed. */
  expire(nowMs: number, accessKeyId?: string): number {
    let n = 0;
    for (const c of this.issued.values()) {
      if (accessKeyId !== undefined && c.accessKeyId !== accessKeyId) continue;
      if (c.expiresAtMs > nowMs) {
        c.expiresAtMs = nowMs;
        n++;
      }
    }
    return n;
  }

  list(): readonly IssuedCredential[] {
    return [...this.issued.values()].map((c) => ({ ...c }));
  }

  private prune(nowMs: number): void {
    for (const [id, c] of this.issued) {
      if (this.issued.size < MAX_ISSUED && c.expiresAtMs + ISSUED_KEPT_AFTER_EXPIRY_MS > nowMs) break;
      this.issued.delete(id);
    }
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function token(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! % ALPHABET.length];
  return out;
}

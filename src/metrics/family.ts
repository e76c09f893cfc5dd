/**
 * A metric family declared as data (kube-state-metrics style): it turns one
 * object (a task, an account's latest scan, a machine) into samples; the
 * renderer does the rest. `prefix` is the object's identifying label pairs,
 * escaped once per object (`task_id="42"`, `account="prod",task_id="42"`,
 * or nothing); a family adds its own labels with `join`. Values that come
 * from the API pass through `labels`, which bounds them and counts what it
 * does (see labels.ts); a layout binds the exporter's own with withLabels().
 */
import type { LabelLimits } from './labels.js';

export type Emit = (labels: string, value: number) => void;

export interface Family<T> {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge';
  /** Without `labels`, the values are bounded all the same, by bounds that count nothing. */
  samples(object: T, prefix: string, emit: Emit, labels?: LabelLimits): void;
}

/** `families` calling their samples with `labels`: what a layout hands the exposition engine. */
export function withLabels<T>(families: readonly Family<T>[], labels: LabelLimits): Family<T>[] {
  return families.map((f) => ({ name: f.name, help: f.help, type: f.type, samples: (o: T, prefix: string, emit: Emit) => f.samples(o, prefix, emit, labels) }));
}

/** The prefix and more label pairs, comma-separated only when both are there. */
export function join(prefix: string, more: string): string {
  return prefix === '' ? more : more === '' ? prefix : `${prefix},${more}`;
}

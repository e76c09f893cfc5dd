/**
 * Every per-task metric family, declared once (kube-state-metrics style).
 * A family turns one task's state into samples; the renderer does the rest.
 * `tid` is the task's identifying label pairs (`[account="...",]task_id="..."`), escaped once per task.
 * Values that come from the API (codes, target types, IDs and names) pass
 * through `labels`, which bounds them (see labels.ts).
 */
import { TARGET_TYPES, TASK_STATUSES } from '../model/vocabulary.js';
import type { TaskState } from '../model/snapshot.js';
import { escapeLabelValue as esc } from './exposition.js';
import type { Family } from './family.js';
import { UNCOUNTED_LABEL_LIMITS } from './labels.js';

export type { Emit } from './family.js';

export type TaskFamily = Family<TaskState>;

const seconds = (ms: number) => ms / 1000;

export const TASK_FAMILIES: readonly TaskFamily[] = [
  {
    name: 'aliyun_sas_scan_task_info',
    help: 'Configured scan task, with its display name from the configuration. Always 1.',
    type: 'gauge',
    samples: (t, tid, emit) => emit(`${tid},task_name="${esc(t.name)}"`, 1),
  },
  {
    name: 'aliyun_sas_scan_task_status',
    help: 'Status of the virus scan task (stateset): 1 for the current status, 0 for the others. Absent until the first successful poll.',
    type: 'gauge',
    samples: (t, tid, emit) => {
      if (t.status === undefined) return;
      for (const s of TASK_STATUSES) emit(`${tid},status="${s}"`, s === t.status ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_scan_task_target_info',
    help: 'A server (target_type="uuid") or server group (target_type="groupId") the scan task runs on. Always 1.',
    type: 'gauge',
    samples: (t, tid, emit, labels = UNCOUNTED_LABEL_LIMITS) => {
      const n = Math.min(t.targets.length, labels.maxTargetsPerTask);
      for (let i = 0; i < n; i++) {
        const g = t.targets[i]!;
        emit(`${tid},target_type="${esc(labels.targetType.apply(g.type, false))}",target="${esc(labels.target.apply(g.target))}",target_name="${esc(labels.targetName.apply(g.name))}"`, 1);
      }
      labels.dropped(t.targets.length - n);
    },
  },
  {
    name: 'aliyun_sas_scan_task_targets',
    help: 'Number of targets of the scan task by type.',
    type: 'gauge',
    samples: (t, tid, emit, labels = UNCOUNTED_LABEL_LIMITS) => {
      if (t.status === undefined) return;
      const counts = new Map<string, number>(TARGET_TYPES.map((k) => [k, 0]));
      // Every target is counted here, those left out of target_info included; the type is counted once, here.
      for (const g of t.targets) {
        const type = labels.targetType.apply(g.type);
        counts.set(type, (counts.get(type) ?? 0) + 1);
      }
      for (const [type, n] of counts) emit(`${tid},target_type="${esc(type)}"`, n);
    },
  },
  {
    name: 'aliyun_sas_scan_task_poll_success',
    help: 'Whether the last poll of the scan task succeeded (1) or failed (0).',
    type: 'gauge',
    samples: (t, tid, emit) => {
      if (t.lastPollOk !== undefined) emit(tid, t.lastPollOk ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_scan_task_poll_error_info',
    help: 'Why the last poll of the scan task failed: error class and API error code. Present only while it fails.',
    type: 'gauge',
    samples: (t, tid, emit, labels = UNCOUNTED_LABEL_LIMITS) => {
      // The code was counted (if limited) when the API call was; here it only takes the same form.
      if (t.lastError) emit(`${tid},class="${t.lastError.class}",code="${esc(labels.code.apply(t.lastError.code, false))}"`, 1);
    },
  },
  {
    name: 'aliyun_sas_scan_task_last_success_timestamp_seconds',
    help: 'Unix time of the last successful poll of the scan task.',
    type: 'gauge',
    samples: (t, tid, emit) => {
      if (t.lastSuccessAt !== undefined) emit(tid, seconds(t.lastSuccessAt));
    },
  },
  {
    name: 'aliyun_sas_scan_task_status_change_timestamp_seconds',
    help: 'Unix time at which this exporter first saw the current status of the scan task.',
    type: 'gauge',
    samples: (t, tid, emit) => {
      if (t.statusChangedAt !== undefined) emit(tid, seconds(t.statusChangedAt));
    },
  },
];

/** The task families as a section of the incremental exposition: one object per task, identified by its ID. */

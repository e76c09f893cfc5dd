/**
 * The families of what the scans found, declared once like the task
 * families: one table over each account's latest virus scan, one over the
 * machines of that scan. `prefix` is the object's identifying labels,
 * escaped (`account="prod"` or nothing for the latest scan; `[account,]uuid`
 * for a machine); `join` adds the family's own labels to it.
 */
import type { LatestScanState, MachineState } from '../model/snapshot.js';
import { MACHINE_SCAN_STATUSES, ROOT_SCAN_STATUSES, SCAN_RISK_LEVELS } from '../model/vocabulary.js';
import { escapeLabelValue as esc } from './exposition.js';
import { join, type Family } from './family.js';
import { UNCOUNTED_LABEL_LIMITS } from './labels.js';

const seconds = (ms: number) => ms / 1000;

export const LATEST_SCAN_FAMILIES: readonly Family<LatestScanState>[] = [
  {
    name: 'aliyun_sas_virus_scan_latest_poll_success',
    help: 'Whether the last poll of the latest virus scan (GetVirusScanLatestTaskStatistic and its ListVirusScanTask pages) succeeded (1) or failed (0).',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.lastPollOk !== undefined) emit(p, s.lastPollOk ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_poll_error_info',
    help: 'Why the last poll of the latest virus scan failed: error class and API error code. Present only while it fails.',
    type: 'gauge',
    samples: (s, p, emit, labels = UNCOUNTED_LABEL_LIMITS) => {
      if (s.lastError) emit(join(p, `class="${s.lastError.class}",code="${esc(labels.code.apply(s.lastError.code, false))}"`), 1);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_info',
    help: 'The latest virus scan task of the account: its ID and scan type (system: automatic, user: custom). Always 1.',
    type: 'gauge',
    samples: (s, p, emit, labels = UNCOUNTED_LABEL_LIMITS) => {
      if (s.scan) emit(join(p, `task_id="${esc(labels.scanTaskId.apply(s.scan.taskId ?? ''))}",scan_type="${esc(labels.scanType.apply(s.scan.scanType ?? ''))}"`), 1);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_status',
    help: 'Status of the latest virus scan (stateset): pending, running, complete, or unknown for an undocumented code.',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.scan) for (const st of ROOT_SCAN_STATUSES) emit(join(p, `status="${st}"`), st === s.scan.status ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_progress_ratio',
    help: 'Progress of the latest virus scan, 0 to 1.',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.scan?.progressPercent !== undefined) emit(p, s.scan.progressPercent / 100);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_start_timestamp_seconds',
    help: 'Unix time the latest virus scan was started (ScanTime).',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.scan?.scanTimeMs !== undefined) emit(p, seconds(s.scan.scanTimeMs));
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_machines',
    help: 'Machines of the latest virus scan by state: scanned, complete, uncomplete (not complete or failed), safe, suspicious.',
    type: 'gauge',
    samples: (s, p, emit) => {
      const m = s.scan?.machines;
      if (!m) return;
      for (const [state, n] of Object.entries(m)) if (n !== undefined) emit(join(p, `state="${state}"`), n);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_alerts',
    help: 'Alerts raised by the latest virus scan (SuspiciousCount).',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.scan?.suspiciousCount !== undefined) emit(p, s.scan.suspiciousCount);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_latest_risk_level',
    help: 'Highest risk level of the latest virus scan’s alerts (stateset): high, medium, low, none; unknown for an undocumented value.',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.scan) for (const l of SCAN_RISK_LEVELS) emit(join(p, `level="${l}"`), l === s.scan.riskLevel ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_machines_dropped',
    help: 'Machines of the latest virus scan beyond latest_scan.max_machines: counted, not exported.',
    type: 'gauge',
    samples: (s, p, emit) => {
      if (s.machines) emit(p, s.machines.dropped);
    },
  },
];

export const MACHINE_FAMILIES: readonly Family<MachineState>[] = [
  {
    name: 'aliyun_sas_virus_scan_machine_info',
    help: 'A machine of the latest virus scan: the scan task, the server’s name and IP addresses. Always 1.',
    type: 'gauge',
    samples: (m, p, emit, labels = UNCOUNTED_LABEL_LIMITS) =>
      emit(
        join(p, `task_id="${esc(labels.scanTaskId.apply(m.rootTaskId))}",instance_name="${esc(labels.instanceName.apply(m.instanceName))}",internet_ip="${esc(labels.ip.apply(m.internetIp))}",intranet_ip="${esc(labels.ip.apply(m.intranetIp))}"`),
        1,
      ),
  },
  {
    name: 'aliyun_sas_virus_scan_machine_status',
    help: 'Status of the latest virus scan on one machine (stateset): running, complete, failed, timeout, or unknown for an undocumented code.',
    type: 'gauge',
    samples: (m, p, emit) => {
      for (const st of MACHINE_SCAN_STATUSES) emit(join(p, `status="${st}"`), st === m.status ? 1 : 0);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_machine_progress_ratio',
    help: 'Progress of the latest virus scan on one machine, 0 to 1.',
    type: 'gauge',
    samples: (m, p, emit) => {
      if (m.progressPercent !== undefined) emit(p, m.progressPercent / 100);
    },
  },
  {
    name: 'aliyun_sas_virus_scan_machine_start_timestamp_seconds',
    help: 'Unix time the latest virus scan started on one machine.',
    type: 'gauge',
    samples: (m, p, emit) => {
      if (m.startTimeMs !== undefined) emit(p, seconds(m.startTimeMs));
    },
  },
  {
    name: 'aliyun_sas_virus_scan_machine_end_timestamp_seconds',
    help: 'Unix time the latest virus scan ended on one machine; absent while it runs.',
    type: 'gauge',
    samples: (m, p, emit) => {
      if (m.endTimeMs !== undefined) emit(p, seconds(m.endTimeMs));
    },
  },
];

/**
 * The finished run the API benchmark asks for: a Succeeded check run of the full plan (a dump,
 * container-ip), shaped like one the engine writes. It goes through RunJournal.save, so it is
 * valid for runSchema, and GET /v1/restores/{id} reads and parses a real journal file.
 */
import { RunJournal } from '../src/runbook/store/file/run-journal.js';
import { STEP_NAMES, type Run, type StepName, type StepResult } from '../src/model/run.js';
import { newRunId } from '../src/runbook/runner.js';

/** What a check run says of each step (check mode reports what a real run would change). */
const WOULD: Partial<Record<StepName, { msg: string; changed: boolean; data?: Record<string, unknown> }>> = {
  preflight: { msg: 'host ready: 5 application units, flightctl-db and flightctl-kv running', changed: false },
  'version-check': { msg: 'dump and database are Flight Control 0.10', changed: false, data: { dump: '0.10.0', live: '0.10.0' } },
  'load-dump': { msg: 'would load the dump into flightctl_restore', changed: true, data: { bytes: 104_857_600 } },
  'prepare-database': { msg: 'would mark 100000 devices for resume', changed: true, data: { devices: 100_000, organizations: 10 } },
  'stage-kv': { msg: 'would stage 100000 keys', changed: true, data: { keys: 100_000 } },
  'stop-services': { msg: 'would stop 5 units', changed: true },
  'swap-database': { msg: 'would rename flightctl to flightctl_old and flightctl_restore to flightctl', changed: true },
  'prepare-kv': { msg: 'would swap the staged keys in (SWAPDB)', changed: true },
  'start-services': { msg: 'would start 5 units', changed: true },
  verify: { msg: 'would check that the units stay active', changed: false },
  'drop-old-database': { msg: 'would drop flightctl_old', changed: true },
};

export async function saveFinishedRun(stateDir: string): Promise<Run> {
  const start = Date.now() - 60_000;
  // The steps of a run with a dump (an archive run has more).
  const steps: StepResult[] = STEP_NAMES.filter((name) => WOULD[name]).map((name, i) => ({
    name,
    status: WOULD[name]!.changed ? 'changed' : 'ok',
    warnings: [],
    startedAt: new Date(start + i * 1000).toISOString(),
    durationMs: 40 + i * 7,
    ...WOULD[name]!,
  }));
  const run: Run = {
    id: newRunId(new Date(start)),
    phase: 'Succeeded',
    check: true,
    target: 'quadlet',
    options: {
      dump: '/var/lib/flightctl-restore-agent/imports/backup.sql',
      force: false,
      keepOldDb: false,
      database: 'flightctl',
      endpointStrategy: 'container-ip',
    },
    plan: steps.map((s) => s.name),
    steps,
    requestedBy: 'api:operator@example',
    pid: process.pid,
    startedAt: new Date(start).toISOString(),
    finishedAt: new Date(start + STEP_NAMES.length * 1000).toISOString(),
    devices: { before: { total: 100_000, byStatus: { Online: 92_000, Unknown: 8_000 } } },
    finalizers: [],
  };
  await new RunJournal(stateDir).save(run);
  return run;
}

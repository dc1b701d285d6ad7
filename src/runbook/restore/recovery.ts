import { ERROR_CATALOGUE, isRestoreError, RestoreError } from '../../lib/errors.js';
import { isFinished, type Run } from '../run-model.js';
import { intentIsOurs, type JournalStore, type RunStore } from '../store.js';
import { settle, type SettleDeps } from './settle.js';

export interface RecoveredRun {
  runId: string;
  phase: Run['phase'];
  actions: string[];
}

export interface RecoveryReport {
  recovered: RecoveredRun[];
  /** Drop-ins found without a record of the run that wrote them, removed. */
  leftovers: string[];
  /** Nothing was left to do. */
  ok: boolean;
}

async function markRecovered(journal: JournalStore, run: Run, actions: string[], complete: boolean, by: string): Promise<Run> {
  const at = new Date().toISOString();
  run.phase = complete ? 'Recovered' : 'Interrupted';
  run.recovery = { at, by, actions };
  run.finishedAt ??= at;
  run.error ??= {
    code: 'RESTORE_ERR_CANCELLED',
    message: `the agent process ended (killed, crashed or the host rebooted)${run.currentStep ? ` during step ${run.currentStep}` : ''}`,
    hint: ERROR_CATALOGUE.RESTORE_ERR_CANCELLED.hint,
  };
  run.currentStep = undefined;
  await journal.save(run);
  const events = await journal.events(run.id);
  await journal.append(run.id, { seq: (events.at(-1)?.seq ?? 0) + 1, time: at, type: 'run-finished', run });
  return run;
}

/**
 * Finishes whatever an earlier process left unfinished, before any new work: the run recorded in
 * the intent file is settled (rolled back or completed) and marked Recovered; runs the journal
 * still shows as running whose process is gone are marked too; drop-ins nobody recorded are
 * removed. Call it holding the store's lock.
 */
export async function recoverHost(deps: SettleDeps, store: RunStore, by: string): Promise<RecoveryReport> {
  const journal = store.journal;
  const report: RecoveryReport = { recovered: [], leftovers: [], ok: true };
  const intent = await deps.intentFile.read();
  if (intent && !intentIsOurs(store, intent)) {
    deps.logger.warn('finishing an interrupted run before anything else', { runId: intent.runId });
    let actions: string[];
    let complete = true;
    let failure: RestoreError | undefined;
    try {
      actions = await settle(deps, intent);
    } catch (err) {
      if (!isRestoreError(err)) throw err;
      failure = err;
      complete = false;
      actions = (err.details.actions as string[] | undefined) ?? [err.message];
    }
    const run = await journal.read(intent.runId);
    if (run) await markRecovered(journal, run, actions, complete, by);
    report.recovered.push({ runId: intent.runId, phase: complete ? 'Recovered' : 'Interrupted', actions });
    if (failure) throw new RestoreError('RESTORE_ERR_RECOVERY_INCOMPLETE', `run ${intent.runId} could not be recovered completely: ${failure.message}`, { actions });
  }
  for (const run of await journal.list()) {
    if (!isFinished(run.phase) && (await journal.abandoned(run))) {
      const actions = ['nothing was left to undo'];
      await markRecovered(journal, run, actions, true, by);
      report.recovered.push({ runId: run.id, phase: 'Recovered', actions });
    }
  }
  report.leftovers = await deps.target.removeLeftovers();
  report.ok = report.recovered.length === 0 && report.leftovers.length === 0;
  return report;
}

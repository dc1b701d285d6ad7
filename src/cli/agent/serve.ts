import os from 'node:os';
import type { Command } from 'commander';
import { createApp, type Readiness } from '../../api/app.js';
import { createAuthenticator } from '../../api/auth.js';
import { connectionLimits } from '../../api/connection-guard.js';
import { listen, parseListen, type Listening } from '../../api/listeners.js';
import { ApiMetrics } from '../../api/metrics.js';
import { RunManager } from '../../api/run-manager.js';
import { asRestoreError } from '../../lib/errors.js';
import { notifyReady, notifyWaiting } from '../../lib/sd-notify.js';
import { retrying } from '../../lib/retrying.js';
import { recoveryObstacle, worthWaiting } from '../../runbook/restore/recovery.js';
import { openRunStore } from '../../runbook/store/open-run-store.js';
import { QuadletTarget } from '../../targets/quadlet/quadlet-target.js';
import { action, type CommandContext } from './command-context.js';

/**
 * The daemon: the engine behind an authenticated HTTP API. It listens at once (health answers
 * "starting"), finishes an interrupted run, then accepts calls. SIGTERM: stop accepting, let a
 * running restore reach a safe point and run its finalizers, exit. SIGHUP: reload the keys.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the agent as a daemon: the restore engine behind an authenticated HTTP API (see the README)')
    .action(
      action(async (ctx: CommandContext) => {
        const { config, logger } = ctx;
        let readiness: Readiness = 'starting';
        const auth = await createAuthenticator({ ...config.api, jwtAudience: config.api.jwtAudience || os.hostname() });
        const addresses = config.api.listen.map(parseListen);
        const target = new QuadletTarget(config.host, config.db.user, config.flightctl.etcDir);
        // Chosen once: the run manager, the routes and the backups all use this one.
        const store = await openRunStore(config, logger);
        const metrics = new ApiMetrics();
        for (const run of await store.journal.list().catch(() => [])) metrics.observeRun(run, false);
        const runs = new RunManager({ config, logger, target, store, onFinished: (run) => metrics.observeRun(run) });
        let recoveryWaitsFor: string | undefined = 'finishing what an earlier process left (first attempt)';
        const app = createApp({ config, logger, target, store, runs, metrics, auth, readiness: () => readiness, readinessReason: () => recoveryWaitsFor });
        const listening: Listening[] = [];
        let stopping: Promise<void> | undefined;
        let markStopped!: () => void;
        const stopped = new Promise<void>((resolve) => (markStopped = resolve));
        // Wakes the recovery's waits when a signal stops serve.
        const stopSignal = new AbortController();
        void stopped.then(() => stopSignal.abort());
        const stop = (why: string) =>
          (stopping ??= (async () => {
            readiness = 'stopping';
            logger.info(`${why}: no new calls; a running restore stops at its next safe point and runs its finalizers`);
            for (const l of listening) l.server.close();
            await runs.shutdown();
            for (const l of listening) l.server.closeAllConnections();
            store.close();
            target.close();
            logger.info('stopped');
            markStopped();
          })());
        process.on('SIGTERM', () => void stop('SIGTERM')).on('SIGINT', () => void stop('SIGINT'));
        process.on('SIGHUP', () => {
          auth.reload().then(
            () => logger.info('SIGHUP: keys reloaded'),
            (err: unknown) => logger.error('SIGHUP: keys not reloaded, the old ones stay', { error: asRestoreError(err).message }),
          );
        });
        try {
          for (const a of addresses) listening.push(await listen(a, app, { cert: config.api.tlsCert, key: config.api.tlsKey }, connectionLimits(config.api)));
        } catch (err) {
          for (const l of listening) l.server.close();
          store.close();
          target.close();
          throw err;
        }
        for (const l of listening) logger.info('listening', { address: l.bound });
        if (ctx.json) ctx.print(`${JSON.stringify({ listening: listening.map((l) => l.bound) })}\n`);
        // A run an earlier process left is finished before anything new starts; meanwhile reads are
        // served and /healthz says what the recovery waits for. It is tried again (with backoff)
        // until it is whole: after a reboot the database and the KV store come up after the agent.
        if (readiness === 'starting') readiness = 'recovering';
        // Every obstacle is waited out here, not only a server not back yet: serve is the host's
        // standing agent, and an operator may fix a broken unit while it waits.
        await retrying(() => runs.recover(), {
          maxWaitMs: Infinity,
          firstDelayMs: 1000,
          maxDelayMs: 30_000,
          retryIf: () => true,
          signal: stopSignal.signal,
          onWait: async (e, delay, attempt) => {
            recoveryWaitsFor = recoveryObstacle(e);
            logger[worthWaiting(e) ? 'warn' : 'error'](
              `recovery of an interrupted run did not finish (attempt ${attempt}); trying again in ${delay / 1000} s`,
              { error: recoveryWaitsFor },
            );
            // Not ready yet, but not stuck: systemd waits as long as the recovery does.
            await notifyWaiting(logger, `recovering: ${recoveryWaitsFor}`.slice(0, 200), delay + 60_000);
          },
        }).then(
          (report) => {
            if (!report.ok) logger.warn('recovered what an earlier process left', { ...report });
            recoveryWaitsFor = undefined;
          },
          () => undefined, // stopped while waiting: the signal ends serve
        );
        if (readiness === 'recovering') readiness = 'ready';
        logger.info('ready');
        await notifyReady(logger, `ready: listening on ${listening.map((l) => l.bound).join(', ')}`);
        // The command ends when a signal has stopped everything (the servers keep the process alive).
        await stopped;
      }),
    );
}

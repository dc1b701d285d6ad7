import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Run } from '../model/run.js';

/**
 * What the agent exposes on /metrics (Prometheus text format, prom-client): runs by phase, step
 * durations, when the last restore succeeded, and API requests by route and status. One registry
 * per app, so tests and the benchmark can build several.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly runs = new Counter({
    name: 'flightctl_restore_runs_total',
    help: 'Restore runs that ended, by phase and mode',
    labelNames: ['phase', 'check'],
    registers: [this.registry],
  });
  private readonly steps = new Histogram({
    name: 'flightctl_restore_step_duration_seconds',
    help: 'Duration of restore steps, by step and status',
    labelNames: ['step', 'status'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  private readonly downtime = new Gauge({
    name: 'flightctl_restore_last_downtime_seconds',
    help: 'Application downtime of the last restore that stopped services',
    registers: [this.registry],
  });
  private readonly lastSuccess = new Gauge({
    name: 'flightctl_restore_last_success_timestamp_seconds',
    help: 'When the last real restore run succeeded (Unix time)',
    registers: [this.registry],
  });
  private lastSuccessAt = 0;
  readonly requests = new Counter({
    name: 'flightctl_restore_api_requests_total',
    help: 'API requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });

  /** A run that ended (also one found in the journal at start, for the last-success time). */
  observeRun(run: Run, counted = true): void {
    if (counted) {
      this.runs.inc({ phase: run.phase, check: String(run.check) });
      for (const s of run.steps) this.steps.observe({ step: s.name, status: s.status }, s.durationMs / 1000);
      if (run.downtimeMs !== undefined) this.downtime.set(run.downtimeMs / 1000);
    }
    if (run.phase === 'Succeeded' && !run.check && run.finishedAt) {
      const t = Date.parse(run.finishedAt) / 1000;
      if (t > this.lastSuccessAt) {
        this.lastSuccessAt = t;
        this.lastSuccess.set(t);
      }
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

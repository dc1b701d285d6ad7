/** Units of a Flight Control Quadlets host (FLIGHTCTL.md §1). */

/** Application units the runbook stops during a restore; the last four exist on newer releases only. */
export const APP_UNITS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
  'flightctl-imagebuilder-api.service',
  'flightctl-imagebuilder-worker.service',
  'flightctl-gateway.service',
  // Uses the flightctl-pam-issuer-etc volume an archive restore replaces.
  'flightctl-pam-issuer.service',
] as const;

/** Data stores: they keep running during a restore. */
export const DB_UNIT = 'flightctl-db.service';
export const KV_UNIT = 'flightctl-kv.service';

/** Every unit `services` reports on. */
export const REPORTED_UNITS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
  DB_UNIT,
  KV_UNIT,
] as const;

export function unitName(name: string): string {
  return name.includes('.') ? name : `${name}.service`;
}

/** flightctl-db.service -> flightctl-db (the ContainerName in flightctl's quadlets). */
export function containerOf(unit: string): string {
  return unit.replace(/\.service$/, '');
}

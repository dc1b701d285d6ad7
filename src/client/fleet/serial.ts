import { RestoreError } from '../../lib/errors.js';

/**
 * Batches like Ansible's `serial:` (PlaybookExecutor._get_serialized_batches): each size is a
 * number or a percentage of all hosts (rounded down, at least 1); the last size repeats until
 * every host has a batch; 0 or nothing means one batch of all. `--serial 1 --serial 100%`: one
 * canary host, then the rest.
 */
export function parseSerial(values: string[]): Array<number | string> {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => {
      if (/^\d+%$/.test(v)) return v;
      if (/^\d+$/.test(v)) return Number(v);
      throw new RestoreError('RESTORE_ERR_USAGE', `--serial ${v}: give a number of hosts or a percentage (1, 5, 30%), repeatable or comma-separated`);
    });
}

function size(spec: number | string, total: number): number {
  if (typeof spec === 'number') return spec;
  return Math.floor((Number(spec.slice(0, -1)) / 100) * total) || 1;
}

export function serialBatches<T>(hosts: T[], specs: Array<number | string>): T[][] {
  const rest = [...hosts];
  const list = specs.length ? specs : [0];
  const batches: T[][] = [];
  for (let i = 0; rest.length > 0; i = Math.min(i + 1, list.length - 1)) {
    const n = size(list[i]!, hosts.length);
    batches.push(n <= 0 ? rest.splice(0) : rest.splice(0, n));
  }
  return batches;
}

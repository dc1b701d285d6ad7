import dbus from 'dbus-next';
import { RestoreError } from '../../lib/errors.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER_IFACE = 'org.freedesktop.systemd1.Manager';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const PROPS_IFACE = 'org.freedesktop.DBus.Properties';

export type JobMethod = 'StartUnit' | 'StopUnit' | 'RestartUnit' | 'ReloadUnit';

export interface UnitStatus {
  unit: string;
  /** loaded | not-found | masked | error | bad-setting ... */
  loadState: string;
  activeState: string;
  subState: string;
  /** The .container (or .network ...) file a quadlet unit was generated from; '' for plain units. */
  sourcePath: string;
  fragmentPath: string;
  dropInPaths: string[];
}

/** Running, or on its way (activating, reloading, waiting to restart): what a stop must stop. */
export function isRunning(st: Pick<UnitStatus, 'activeState' | 'subState'>): boolean {
  return ['active', 'activating', 'reloading'].includes(st.activeState) || st.subState === 'auto-restart';
}

export interface JobOutcome {
  unit: string;
  /** 'done' | 'failed' | 'canceled' | 'timeout' | 'dependency' | 'skipped' | 'not-found' */
  result: string;
  activeState: string;
  subState: string;
  /** The job ended and the unit is where it was asked to go. */
  ok: boolean;
}

export interface SystemdOptions {
  /** D-Bus address; empty: DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
  address?: string | undefined;
  connectTimeoutMs?: number;
}

export function resolveBusAddress(address?: string): string {
  if (address) return address;
  return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';
}

function dbusErrorName(err: unknown): string {
  return (err as { type?: string })?.type ?? '';
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * systemd's Manager on one bus connection. Jobs are matched to JobRemoved by their object path;
 * the handler is in place before the method is called because the signal can beat the reply.
 */
export class SystemdClient {
  private readonly finished = new Map<string, string>();
  private readonly waiters = new Map<string, (result: string) => void>();
  /** How long after a successful start the unit must still be active to count as started. */
  settleMs = 500;

  private constructor(
    private readonly bus: dbus.MessageBus,
    private readonly manager: dbus.ClientInterface,
    readonly address: string,
  ) {
    manager.on('JobRemoved', (_id: number, job: string, _unit: string, result: string) => {
      const waiter = this.waiters.get(job);
      if (waiter) {
        this.waiters.delete(job);
        waiter(result);
      } else {
        // systemd announces every job on the bus, not only ours: keep a bounded memory of
        // recent ones (only needed for a signal that beats its method reply).
        this.finished.set(job, result);
        if (this.finished.size > 256) this.finished.delete(this.finished.keys().next().value!);
      }
    });
  }

  static async connect(options: SystemdOptions = {}): Promise<SystemdClient> {
    const address = resolveBusAddress(options.address);
    const unreachable = (why: string) => new RestoreError('RESTORE_ERR_DBUS_UNREACHABLE', `cannot talk to systemd on D-Bus ${address}: ${why}`, { address });
    let bus: dbus.MessageBus;
    try {
      bus = dbus.sessionBus({ busAddress: address });
    } catch (err) {
      throw unreachable((err as Error).message);
    }
    const failed = new Promise<never>((_, reject) => {
      bus.on('error', (err: { code?: string; message?: string }) => reject(unreachable(err?.code ?? err?.message ?? 'error')));
    });
    failed.catch(() => undefined);
    try {
      const root = await withTimeout(Promise.race([bus.getProxyObject(SYSTEMD, MANAGER_PATH), failed]), options.connectTimeoutMs ?? 10_000, () =>
        unreachable('no answer'),
      );
      const manager = root.getInterface(MANAGER_IFACE);
      // Without Subscribe systemd emits no JobRemoved.
      await manager.Subscribe!();
      return new SystemdClient(bus, manager, address);
    } catch (err) {
      bus.disconnect();
      if (err instanceof RestoreError) throw err;
      throw unreachable((err as Error).message);
    }
  }

  close(): void {
    this.bus.disconnect();
  }

  /** Re-runs generators (quadlet) and reloads unit files: systemctl daemon-reload. */
  async reload(): Promise<void> {
    await this.manager.Reload!();
  }

  /** LoadUnit, not GetUnit: a stopped unit is unloaded and GetUnit would fail. */
  async status(unit: string): Promise<UnitStatus> {
    let path: string;
    try {
      path = await this.manager.LoadUnit!(unit);
    } catch (err) {
      if (dbusErrorName(err) === 'org.freedesktop.systemd1.NoSuchUnit') return notFound(unit);
      throw err;
    }
    const obj = await this.bus.getProxyObject(SYSTEMD, path);
    const props = obj.getInterface(PROPS_IFACE);
    const all = (await props.GetAll!(UNIT_IFACE)) as Record<string, { value: unknown }>;
    const str = (k: string) => String(all[k]?.value ?? '');
    return {
      unit,
      loadState: str('LoadState'),
      activeState: str('ActiveState'),
      subState: str('SubState'),
      sourcePath: str('SourcePath'),
      fragmentPath: str('FragmentPath'),
      dropInPaths: ((all.DropInPaths?.value as string[] | undefined) ?? []).map(String),
    };
  }

  /**
   * The argv of the unit's ExecStart. For a quadlet unit this is the generated `podman run ...`,
   * the only place that shows what quadlet merged from drop-ins (systemd lists none for them).
   */
  async execStart(unit: string): Promise<string[]> {
    const path = await this.manager.LoadUnit!(unit);
    const obj = await this.bus.getProxyObject(SYSTEMD, path);
    const props = obj.getInterface(PROPS_IFACE);
    try {
      const v = (await props.Get!('org.freedesktop.systemd1.Service', 'ExecStart')) as { value: unknown[][] };
      // a(sasbttttuii): [path, argv, ignoreFailure, ...]
      return ((v.value?.[0]?.[1] as string[] | undefined) ?? []).map(String);
    } catch {
      return [];
    }
  }

  /**
   * Runs one job and waits for it within timeoutMs. A unit that is not installed is reported
   * (result 'not-found') and skipped. After 'done' the ActiveState is checked: a unit whose
   * process dies at once still ends its start job 'done'.
   */
  async runJob(method: JobMethod, unit: string, timeoutMs: number): Promise<JobOutcome> {
    const before = await this.status(unit);
    if (before.loadState === 'not-found') return { unit, result: 'not-found', activeState: 'inactive', subState: 'dead', ok: false };
    let jobPath: string | undefined;
    let resolveResult!: (r: string) => void;
    const result = new Promise<string>((res) => (resolveResult = res));
    try {
      jobPath = (await this.manager[method]!(unit, 'replace')) as string;
    } catch (err) {
      throw new RestoreError('RESTORE_ERR_UNIT_JOB_FAILED', `${method} ${unit} was refused: ${dbusErrorName(err) || (err as Error).message}`, { unit, method });
    }
    const early = this.finished.get(jobPath);
    if (early !== undefined) {
      this.finished.delete(jobPath);
      resolveResult(early);
    } else {
      this.waiters.set(jobPath, resolveResult);
    }
    const path = jobPath;
    let jobResult: string;
    try {
      jobResult = await withTimeout(
        result,
        timeoutMs,
        () => new RestoreError('RESTORE_ERR_UNIT_TIMEOUT', `${method} ${unit}: job did not finish within ${timeoutMs} ms`, { unit, method, timeoutMs }),
      );
    } finally {
      this.waiters.delete(path);
    }
    let after = await this.status(unit);
    if (method !== 'StopUnit' && jobResult === 'done' && after.activeState === 'active') {
      // A process that dies at once still ends its start job 'done': look again a moment later.
      await new Promise((r) => setTimeout(r, this.settleMs));
      after = await this.status(unit);
    }
    const wanted = method === 'StopUnit' ? ['inactive', 'failed'] : ['active', 'activating', 'reloading'];
    const ok = jobResult === 'done' && wanted.includes(after.activeState) && !(method !== 'StopUnit' && after.subState === 'auto-restart');
    return { unit, result: jobResult, activeState: after.activeState, subState: after.subState, ok };
  }

  /**
   * Runs the same job on several units at once and waits for all of them; never throws for one
   * unit, so the caller sees every outcome (a timeout becomes result 'timeout').
   */
  async runJobs(method: JobMethod, units: string[], timeoutMs: number): Promise<JobOutcome[]> {
    return Promise.all(
      units.map(async (unit) => {
        try {
          return await this.runJob(method, unit, timeoutMs);
        } catch (err) {
          const e = err as RestoreError;
          const result = e.code === 'RESTORE_ERR_UNIT_TIMEOUT' ? 'timeout' : 'refused';
          const st = await this.status(unit).catch(() => notFound(unit));
          return { unit, result, activeState: st.activeState, subState: st.subState, ok: false };
        }
      }),
    );
  }
}

function notFound(unit: string): UnitStatus {
  return { unit, loadState: 'not-found', activeState: 'inactive', subState: 'dead', sourcePath: '', fragmentPath: '', dropInPaths: [] };
}

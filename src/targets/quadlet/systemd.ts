import dbus from 'dbus-next';
import { asRestoreError, RestoreError } from '../../lib/errors.js';
import { retrying } from '../../lib/retrying.js';
import type { ConnectionLossListener } from '../connection-loss.js';

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
  /** How long a call waits for a lost connection to come back (dbus.service restarted); default 60 s. */
  reconnectWaitMs?: number;
  /** Told of each connection lost under a call, and whether it came back. */
  onLoss?: ConnectionLossListener;
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
 * One connection to the bus with systemd's Manager on it. dbus-next neither fails the calls under
 * way when the connection ends nor the calls made after: they would wait for ever. So the end of
 * the connection is watched, and every call races `lost`, which fails once it has ended.
 */
interface BusConnection {
  bus: dbus.MessageBus;
  manager: dbus.ClientInterface;
  lost: Promise<never>;
  isLost(): boolean;
  /** A call found the connection gone before its end was announced (a write to a closed socket). */
  markLost(why: string): void;
}

/** A call's error that says the connection is gone rather than what systemd answered. */
function isConnectionGone(err: unknown): boolean {
  if (dbusErrorName(err)) return false;
  const e = err as NodeJS.ErrnoException;
  return (
    ['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END'].includes(e?.code ?? '') ||
    /stream is closed|closed stream/.test(e?.message ?? '')
  );
}

/** Why a connection ended, as the error every call on it gets. */
class BusLost extends RestoreError {}

async function openBus(address: string, timeoutMs: number, onJobRemoved: (job: string, result: string) => void): Promise<BusConnection> {
  const unreachable = (why: string) => new RestoreError('RESTORE_ERR_DBUS_UNREACHABLE', `cannot talk to systemd on D-Bus ${address}: ${why}`, { address });
  let bus: dbus.MessageBus;
  try {
    bus = dbus.sessionBus({ busAddress: address });
  } catch (err) {
    throw unreachable((err as Error).message);
  }
  let ended = false;
  let closing = false;
  let end!: (why: string) => void;
  const lost = new Promise<never>((_, reject) => {
    end = (why: string) => {
      if (ended) return;
      ended = true;
      reject(
        new BusLost('RESTORE_ERR_DBUS_UNREACHABLE', `the connection to systemd on D-Bus ${address} ${closing ? 'was closed' : `was lost (${why})`}`, {
          address,
        }),
      );
    };
    bus.on('error', (err: { code?: string; message?: string }) => end(err?.code ?? err?.message ?? 'error'));
    // Not in dbus-next's types: the socket under the bus, whose end is the connection's.
    (bus as unknown as { _connection: { stream: NodeJS.EventEmitter } })._connection.stream.once('close', () => end('the bus closed it'));
  });
  lost.catch(() => undefined);
  try {
    const root = await withTimeout(Promise.race([bus.getProxyObject(SYSTEMD, MANAGER_PATH), lost]), timeoutMs, () => unreachable('no answer'));
    const manager = root.getInterface(MANAGER_IFACE);
    manager.on('JobRemoved', (_id: number, job: string, _unit: string, result: string) => onJobRemoved(job, result));
    // Without Subscribe systemd emits no JobRemoved.
    await Promise.race([manager.Subscribe!(), lost]);
    return {
      bus,
      manager,
      lost,
      isLost: () => ended,
      markLost: (why) => end(why),
    };
  } catch (err) {
    closing = true;
    bus.disconnect();
    if (err instanceof RestoreError) throw err;
    throw unreachable((err as Error).message);
  }
}

/**
 * systemd's Manager over the bus. Jobs are matched to JobRemoved by their object path; the
 * handler is in place before the method is called because the signal can beat the reply. A
 * connection lost under a call (dbus.service restarted) is opened again, bounded by
 * reconnectWaitMs, and the call made again: every call here is safe to repeat (a status, a
 * reload, a start or stop job in "replace" mode, which finds its unit where the lost one left it).
 */
export class SystemdClient {
  private readonly finished = new Map<string, string>();
  private readonly waiters = new Map<string, (result: string) => void>();
  private reopening: Promise<BusConnection> | undefined;
  private closed = false;
  /** How long after a successful start the unit must still be active to count as started. */
  settleMs = 500;

  private constructor(
    private conn: BusConnection,
    readonly address: string,
    private readonly options: SystemdOptions,
  ) {}

  private jobRemoved(job: string, result: string): void {
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
  }

  static async connect(options: SystemdOptions = {}): Promise<SystemdClient> {
    const address = resolveBusAddress(options.address);
    // The signals of the first connection reach the client built on it.
    const to: { client?: SystemdClient } = {};
    const conn = await openBus(address, options.connectTimeoutMs ?? 10_000, (job, result) => to.client?.jobRemoved(job, result));
    return (to.client = new SystemdClient(conn, address, options));
  }

  close(): void {
    this.closed = true;
    this.conn.bus.disconnect();
  }

  /** The connection, opened again when it was lost (once for all the calls that wait for it). */
  private connection(what: string, lostWhy: RestoreError): Promise<BusConnection> {
    const waitMs = this.options.reconnectWaitMs ?? 60_000;
    this.reopening ??= retrying(() => openBus(this.address, this.options.connectTimeoutMs ?? 10_000, (job, result) => this.jobRemoved(job, result)), {
      maxWaitMs: waitMs,
      firstDelayMs: 200,
      maxDelayMs: 5_000,
      retryIf: (e) => e.code === 'RESTORE_ERR_DBUS_UNREACHABLE',
    })
      .then(
        (conn) => {
          this.conn = conn;
          this.options.onLoss?.({ code: lostWhy.code, message: lostWhy.message, action: `connected to the bus again and made the call (${what}) again` });
          return conn;
        },
        (err: unknown) => {
          const e = new RestoreError(
            'RESTORE_ERR_DBUS_UNREACHABLE',
            `${lostWhy.message}, and it did not come back within ${Math.round(waitMs / 1000)} s (${asRestoreError(err).message}); is dbus.service running?`,
            { address: this.address },
          );
          this.options.onLoss?.({ code: e.code, message: lostWhy.message, action: `gave up waiting for the bus after ${Math.round(waitMs / 1000)} s` });
          throw e;
        },
      )
      .finally(() => (this.reopening = undefined));
    return this.reopening;
  }

  /** A connection in place of the lost `c`: one another call opened meanwhile, or a new one. */
  private async replacing(c: BusConnection, what: string): Promise<BusConnection> {
    if (this.conn !== c && !this.conn.isLost()) return this.conn;
    return this.connection(what, await c.lost.catch((e: RestoreError) => e));
  }

  /** Runs `fn` on the connection; a connection lost under it is opened again and `fn` run again. */
  private async onBus<T>(what: string, fn: (c: BusConnection) => Promise<T>): Promise<T> {
    let c = this.conn;
    for (let attempt = 1; ; attempt++) {
      if (c.isLost() && !this.closed) c = await this.replacing(c, what);
      try {
        return await Promise.race([fn(c), c.lost]);
      } catch (err) {
        if (isConnectionGone(err)) c.markLost((err as Error).message);
        // Not a loss, or lost again and again: the caller gets it.
        if (!c.isLost() || this.closed || attempt >= 3) throw err instanceof BusLost ? new RestoreError(err.code, err.message, err.details) : err;
      }
    }
  }

  /** Re-runs generators (quadlet) and reloads unit files: systemctl daemon-reload. */
  async reload(): Promise<void> {
    await this.onBus('daemon-reload', (c) => c.manager.Reload!() as Promise<void>);
  }

  /** LoadUnit, not GetUnit: a stopped unit is unloaded and GetUnit would fail. */
  async status(unit: string): Promise<UnitStatus> {
    return this.onBus(`the status of ${unit}`, (c) => statusOn(c, unit));
  }

  /**
   * The argv of the unit's ExecStart. For a quadlet unit this is the generated `podman run ...`,
   * the only place that shows what quadlet merged from drop-ins (systemd lists none for them).
   */
  async execStart(unit: string): Promise<string[]> {
    return this.onBus(`the ExecStart of ${unit}`, async (c) => {
      const path = (await c.manager.LoadUnit!(unit)) as string;
      const obj = await c.bus.getProxyObject(SYSTEMD, path);
      const props = obj.getInterface(PROPS_IFACE);
      try {
        const v = (await props.Get!('org.freedesktop.systemd1.Service', 'ExecStart')) as { value: unknown[][] };
        // a(sasbttttuii): [path, argv, ignoreFailure, ...]
        return ((v.value?.[0]?.[1] as string[] | undefined) ?? []).map(String);
      } catch {
        return [];
      }
    });
  }

  /**
   * Runs one job and waits for it within timeoutMs. A unit that is not installed is reported
   * (result 'not-found') and skipped. After 'done' the ActiveState is checked: a unit whose
   * process dies at once still ends its start job 'done'.
   */
  async runJob(method: JobMethod, unit: string, timeoutMs: number): Promise<JobOutcome> {
    return this.onBus(`${method} ${unit}`, (c) => this.runJobOn(c, method, unit, timeoutMs));
  }

  private async runJobOn(c: BusConnection, method: JobMethod, unit: string, timeoutMs: number): Promise<JobOutcome> {
    const before = await statusOn(c, unit);
    if (before.loadState === 'not-found') return { unit, result: 'not-found', activeState: 'inactive', subState: 'dead', ok: false };
    let jobPath: string | undefined;
    let resolveResult!: (r: string) => void;
    const result = new Promise<string>((res) => (resolveResult = res));
    try {
      jobPath = (await Promise.race([c.manager[method]!(unit, 'replace'), c.lost])) as string;
    } catch (err) {
      if (err instanceof BusLost) throw err;
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
        Promise.race([result, c.lost]),
        timeoutMs,
        () => new RestoreError('RESTORE_ERR_UNIT_TIMEOUT', `${method} ${unit}: job did not finish within ${timeoutMs} ms`, { unit, method, timeoutMs }),
      );
    } finally {
      this.waiters.delete(path);
    }
    let after = await statusOn(c, unit);
    if (method !== 'StopUnit' && jobResult === 'done' && after.activeState === 'active') {
      // A process that dies at once still ends its start job 'done': look again a moment later.
      await new Promise((r) => setTimeout(r, this.settleMs));
      after = await statusOn(c, unit);
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
          const e = asRestoreError(err);
          const result = e.code === 'RESTORE_ERR_UNIT_TIMEOUT' ? 'timeout' : e.code === 'RESTORE_ERR_DBUS_UNREACHABLE' ? 'bus-lost' : 'refused';
          const st = await this.status(unit).catch(() => notFound(unit));
          return { unit, result, activeState: st.activeState, subState: st.subState, ok: false };
        }
      }),
    );
  }
}

/** LoadUnit, not GetUnit: a stopped unit is unloaded and GetUnit would fail. */
async function statusOn(c: BusConnection, unit: string): Promise<UnitStatus> {
  let path: string;
  try {
    path = (await c.manager.LoadUnit!(unit)) as string;
  } catch (err) {
    if (dbusErrorName(err) === 'org.freedesktop.systemd1.NoSuchUnit') return notFound(unit);
    throw err;
  }
  const obj = await c.bus.getProxyObject(SYSTEMD, path);
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

function notFound(unit: string): UnitStatus {
  return { unit, loadState: 'not-found', activeState: 'inactive', subState: 'dead', sourcePath: '', fragmentPath: '', dropInPaths: [] };
}

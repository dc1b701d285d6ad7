/**
 * Application downtime as systemd itself saw it, the same way for every variant: for each unit the
 * monotonic time it began to stop (ActiveExitTimestampMonotonic: it left "active") and the time it
 * became active again (ActiveEnterTimestampMonotonic), read over D-Bus with LoadUnit +
 * Properties.Get like SystemdClient.status. Neither variant's own clock is trusted. The two
 * timestamps between them (InactiveEnter: the stop job ended; InactiveExit: the start job began)
 * split the window into the unit jobs and the gap in which the restore itself ran.
 */
import dbus from 'dbus-next';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const PROPS_IFACE = 'org.freedesktop.DBus.Properties';

/** CLOCK_MONOTONIC, microseconds; in this order for a unit that was stopped and started again. */
export interface UnitTimes {
  unit: string;
  /** ActiveExit: the stop job began. */
  stopBeganUs: bigint;
  /** InactiveEnter: the stop job ended. */
  stoppedUs: bigint;
  /** InactiveExit: the start job began. */
  startBeganUs: bigint;
  /** ActiveEnter: the start job ended, the unit is active. */
  activeAgainUs: bigint;
}

export interface Downtime {
  /** max(active again) - min(began to stop). */
  ms: number;
  /** First stop job began to last stop job ended. */
  stopJobsMs: number;
  /** Last unit stopped to first start job begun: where the restore's own work runs. */
  gapMs: number;
  /** First start job began to last unit active. */
  startJobsMs: number;
  units: UnitTimes[];
}

/** CLOCK_MONOTONIC now, in microseconds: the clock systemd's *Monotonic properties use (no time namespace here). */
export function monotonicUs(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export class UnitClock {
  private constructor(
    private readonly bus: dbus.MessageBus,
    private readonly manager: dbus.ClientInterface,
  ) {}

  static async connect(address: string): Promise<UnitClock> {
    const bus = dbus.sessionBus({ busAddress: address });
    // Without a listener a dropped bus ends the process; a failed call reports it instead.
    bus.on('error', () => undefined);
    try {
      const root = await bus.getProxyObject(SYSTEMD, MANAGER_PATH);
      return new UnitClock(bus, root.getInterface('org.freedesktop.systemd1.Manager'));
    } catch (err) {
      bus.disconnect();
      throw err;
    }
  }

  close(): void {
    this.bus.disconnect();
  }

  private async get(unit: string, prop: string): Promise<bigint> {
    // LoadUnit, not GetUnit: works for a unit that is stopped and unloaded too.
    const path = (await this.manager.LoadUnit!(unit)) as string;
    const props = (await this.bus.getProxyObject(SYSTEMD, path)).getInterface(PROPS_IFACE);
    const v = (await props.Get!(UNIT_IFACE, prop)) as { value: unknown };
    // uint64 arrives as a bigint (or a JSBI/Long in dbus-next's compat modes): its decimal text is exact either way.
    return BigInt(String(v.value));
  }

  async times(unit: string): Promise<UnitTimes> {
    return {
      unit,
      stopBeganUs: await this.get(unit, 'ActiveExitTimestampMonotonic'),
      stoppedUs: await this.get(unit, 'InactiveEnterTimestampMonotonic'),
      startBeganUs: await this.get(unit, 'InactiveExitTimestampMonotonic'),
      activeAgainUs: await this.get(unit, 'ActiveEnterTimestampMonotonic'),
    };
  }

  /**
   * max(active again) - min(began to stop) over `units`, after checking that every unit stopped
   * and came back inside [fromUs, toUs] (the variant's own run), so a stale timestamp from an
   * earlier run cannot pass for this one.
   */
  async downtime(units: readonly string[], fromUs: bigint, toUs: bigint): Promise<Downtime> {
    const times = await Promise.all(units.map((u) => this.times(u)));
    for (const t of times) {
      const seq = [fromUs, t.stopBeganUs, t.stoppedUs, t.startBeganUs, t.activeAgainUs, toUs];
      if (seq.some((v, i) => i > 0 && v < seq[i - 1]!)) {
        throw new Error(
          `${t.unit} did not stop and start again once during this run (run ${fromUs}..${toUs} us; stop ${t.stopBeganUs}..${t.stoppedUs}, start ${t.startBeganUs}..${t.activeAgainUs} us)`,
        );
      }
    }
    const min = (f: (t: UnitTimes) => bigint) => times.map(f).reduce((a, b) => (b < a ? b : a));
    const max = (f: (t: UnitTimes) => bigint) => times.map(f).reduce((a, b) => (b > a ? b : a));
    const ms = (from: bigint, to: bigint) => Number(to - from) / 1000;
    return {
      ms: ms(
        min((t) => t.stopBeganUs),
        max((t) => t.activeAgainUs),
      ),
      stopJobsMs: ms(
        min((t) => t.stopBeganUs),
        max((t) => t.stoppedUs),
      ),
      gapMs: ms(
        max((t) => t.stoppedUs),
        min((t) => t.startBeganUs),
      ),
      startJobsMs: ms(
        min((t) => t.startBeganUs),
        max((t) => t.activeAgainUs),
      ),
      units: times,
    };
  }
}

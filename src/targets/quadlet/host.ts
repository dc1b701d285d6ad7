import type { Config } from '../../config/schema.js';
import { PodmanClient } from './podman.js';
import { StateFile } from './state-file.js';
import { SystemdClient } from './systemd.js';
import { ConnectionLossListeners } from '../connection-loss.js';

/** Everything the Quadlets target talks to on one host, built from the `host` config section. */
export interface QuadletHost {
  settings: Readonly<Config['host']>;
  systemd(): Promise<SystemdClient>;
  podman: PodmanClient;
  state: StateFile;
  /** Told of each bus or Podman connection lost under a call (a run records them as faults). */
  losses: ConnectionLossListeners;
  close(): void;
}

export function openQuadletHost(settings: Readonly<Config['host']>): QuadletHost {
  let systemd: Promise<SystemdClient> | undefined;
  const losses = new ConnectionLossListeners();
  const reconnect = { reconnectWaitMs: settings.reconnectWaitMs, onLoss: (l: Parameters<ConnectionLossListeners['tell']>[0]) => losses.tell(l) };
  return {
    settings,
    // Connected on first use: `secrets check` needs no systemd.
    systemd: () => (systemd ??= SystemdClient.connect({ address: settings.dbusAddress || undefined, ...reconnect })),
    podman: new PodmanClient(settings.podmanSocket, reconnect),
    losses,
    state: new StateFile(settings.stateDir),
    close() {
      systemd?.then((s) => s.close()).catch(() => undefined);
    },
  };
}

export async function withQuadletHost<T>(settings: Readonly<Config['host']>, fn: (host: QuadletHost) => Promise<T>): Promise<T> {
  const host = openQuadletHost(settings);
  try {
    return await fn(host);
  } finally {
    host.close();
  }
}

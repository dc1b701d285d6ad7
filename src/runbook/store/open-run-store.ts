import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import { FileRunStore } from './file/file-run-store.js';
import type { RunStore } from './run-store.js';

/**
 * The one place that decides where runs are kept, called once when a command or `serve` starts:
 * files under the state directory on a host; ConfigMaps and a Lease in the state namespace for a
 * Kubernetes target (a Job's filesystem goes with it). The Kubernetes client is loaded only then.
 */
export async function openRunStore(config: Readonly<Config>, logger?: Logger): Promise<RunStore> {
  if (config.target !== 'kubernetes') return new FileRunStore(config.host.stateDir);
  const [{ ClusterRunStore }, { KubeClient, loadKubeConfig }, { namespacesOf }] = await Promise.all([
    import('./cluster/cluster-run-store.js'),
    import('../../targets/kubernetes/kube-client.js'),
    import('../../targets/kubernetes/deployments.js'),
  ]);
  const settings = config.kubernetes;
  const client = new KubeClient(loadKubeConfig(settings), settings.requestTimeoutMs);
  return new ClusterRunStore(client, namespacesOf(settings).state, settings.leaseDurationSec, logger);
}

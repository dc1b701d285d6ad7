import type { Config } from '../config/schema.js';
import { QuadletTarget } from './quadlet/quadlet-target.js';
import type { RestoreTarget } from './target.js';

/**
 * The target `target:` (or --target) names. The Kubernetes client is loaded only when it is the
 * one: a Quadlets host never pays for it.
 */
export async function openTarget(config: Readonly<Config>): Promise<RestoreTarget> {
  if (config.target === 'kubernetes') {
    const { KubernetesTarget } = await import('./kubernetes/kubernetes-target.js');
    return new KubernetesTarget(config);
  }
  return new QuadletTarget(config.host, config.db.user, config.flightctl.etcDir);
}

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../../config/schema.js';
import { RestoreError } from '../../lib/errors.js';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** What a request does, for messages and for the RBAC that allows it. */
export interface KubeRequest {
  verb: 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete';
  /** e.g. "deployments", "deployments/scale", "leases". */
  resource: string;
  namespace: string;
  name?: string;
}

function describe(r: KubeRequest): string {
  return `${r.verb} ${r.resource}${r.name ? ` ${r.name}` : ''} in namespace ${r.namespace}`;
}

/**
 * A kubeconfig file when one is given; in a Job the pod's service account (in-cluster config);
 * else what kubectl would use (KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(settings: Readonly<Config['kubernetes']>): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (settings.kubeconfig) kc.loadFromFile(settings.kubeconfig);
    else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) kc.loadFromCluster();
    else if (process.env.KUBECONFIG || existsSync(path.join(homedir(), '.kube', 'config'))) kc.loadFromDefault();
    else {
      // The library would fall back to http://localhost:8080, which is never the cluster meant.
      throw new RestoreError(
        'RESTORE_ERR_CONFIG_INVALID',
        'no kubeconfig: give --kubeconfig (kubernetes.kubeconfig), set KUBECONFIG, or run inside the cluster as a Job',
      );
    }
    if (settings.context) kc.setCurrentContext(settings.context);
  } catch (err) {
    if (err instanceof RestoreError) throw err;
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0];
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `the kubeconfig ${settings.kubeconfig || '(default)'} cannot be used: ${why}`, {
      kubeconfig: settings.kubeconfig,
    });
  }
  if (!kc.getCurrentCluster()) {
    throw new RestoreError(
      'RESTORE_ERR_CONFIG_INVALID',
      `the kubeconfig ${settings.kubeconfig || '(default)'} has no cluster for context ${kc.getCurrentContext() || '(none)'}`,
    );
  }
  return kc;
}

/** The status text a Kubernetes error body carries ({"kind":"Status","message":...}). */
function statusMessage(body: unknown): string {
  let doc = body;
  if (typeof body === 'string') {
    try {
      doc = JSON.parse(body);
    } catch {
      return body.slice(0, 300);
    }
  }
  const m = (doc as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m.slice(0, 300) : '';
}

/** The HTTP status of a failed request, when the server answered. */
export function kubeStatus(err: unknown): number | undefined {
  const s = (err as RestoreError | undefined)?.details?.status;
  return typeof s === 'number' ? s : undefined;
}

export const isConflict = (err: unknown): boolean => kubeStatus(err) === 409;
export const isNotFound = (err: unknown): boolean => kubeStatus(err) === 404;

/**
 * The client library's API objects behind one door that bounds every call in time and turns
 * every failure into a catalogue error naming the request (never its body or headers).
 */
export class KubeClient {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;
  readonly server: string;

  constructor(
    kc: KubeConfig,
    private readonly timeoutMs: number,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.server = kc.getCurrentCluster()?.server ?? '(unknown)';
  }

  async call<T>(req: KubeRequest, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RestoreError(
              'RESTORE_ERR_KUBE_UNREACHABLE',
              `the Kubernetes API at ${this.server} did not answer within ${this.timeoutMs} ms (${describe(req)})`,
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw this.classify(err, req);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A read whose 404 is an answer: undefined. */
  async get<T>(req: KubeRequest, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(req, fn);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private classify(err: unknown, req: KubeRequest): RestoreError {
    if (err instanceof RestoreError) return err;
    const e = err as { code?: unknown; body?: unknown; message?: unknown; cause?: { code?: unknown } };
    const what = describe(req);
    if (typeof e.code === 'number') {
      const status = e.code;
      const text = statusMessage(e.body);
      const details = { status, ...req };
      if (status === 401)
        return new RestoreError('RESTORE_ERR_KUBE_UNREACHABLE', `the Kubernetes API at ${this.server} refused the credentials (401) to ${what}`, details);
      if (status === 403)
        return new RestoreError('RESTORE_ERR_KUBE_FORBIDDEN', `the Kubernetes API refused to ${what} (403)${text ? `: ${text}` : ''}`, details);
      return new RestoreError('RESTORE_ERR_KUBE_API', `the Kubernetes API answered ${status} to ${what}${text ? `: ${text}` : ''}`, details);
    }
    // node-fetch: the socket or TLS failed (ECONNREFUSED, an untrusted certificate, ...).
    const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
    const text = typeof e.message === 'string' ? e.message.split('\n')[0]!.slice(0, 200) : String(err);
    return new RestoreError('RESTORE_ERR_KUBE_UNREACHABLE', `the Kubernetes API at ${this.server} cannot be reached to ${what}: ${code || text}`, {
      ...req,
      cause: code,
    });
  }
}

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { stringify } from 'yaml';
import { ClusterModel, type KubeObject } from './cluster-model.js';
import { type Rule, allows } from './rbac.js';
import { makeServerCertificate } from './tls.js';

/** One request as RBAC sees it, and what the server answered. */
export interface RecordedRequest {
  method: string;
  path: string;
  verb: string;
  apiGroup: string;
  /** "deployments", "deployments/scale", ... */
  resource: string;
  namespace: string;
  name?: string;
  status: number;
  contentType?: string;
}

interface Route {
  apiGroup: string;
  namespace: string;
  resource: string;
  name?: string;
  subresource?: string;
}

const ROUTE = /^\/(?:api\/v1|apis\/([a-z0-9.-]+)\/v1)\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+))?(?:\/([a-z]+))?$/;

function status(code: number, reason: string, message: string): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code };
}

/** JSON merge patch (RFC 7386): objects merge, null removes, anything else replaces. */
export function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * A small kube-apiserver for tests: HTTPS with a CA of its own (client-node 1.x refuses plain HTTP
 * unless told to skip verification), bearer-token authentication, the endpoints the agent calls
 * over the ClusterModel, resourceVersion preconditions (409 on a stale write, as the real server),
 * a Scale that leaves spec.replicas out at 0 (as the real one does), every request recorded, and,
 * when given rules, RBAC enforced (403) the way the real server would with those Roles bound.
 */
export class FakeApiServer {
  readonly model = new ClusterModel();
  readonly requests: RecordedRequest[] = [];
  readonly token = randomBytes(16).toString('hex');
  /** Namespace -> rules granted; undefined: everything is allowed. */
  rbac?: Map<string, Rule[]>;
  /** Called before a request is served: a test acts there as an operator would, mid-run. */
  beforeServe?: (req: RecordedRequest, body: any) => void;
  private server?: https.Server;
  url = '';
  ca = '';

  async start(dir: string): Promise<void> {
    const tls = makeServerCertificate(dir);
    this.ca = tls.ca;
    this.server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address() as { port: number };
    this.url = `https://127.0.0.1:${addr.port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A kubeconfig for the agent: this server, its CA, the token. */
  writeKubeconfig(file: string, token = this.token): string {
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.ca).toString('base64') } }],
        users: [{ name: 'restore-agent', user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'restore-agent' } }],
        'current-context': 'fake',
      }),
      { mode: 0o600 },
    );
    return path.resolve(file);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://x');
      const m = ROUTE.exec(url.pathname);
      const route: Route | undefined = m ? { apiGroup: m[1] ?? '', namespace: m[2]!, resource: m[3]!, name: m[4], subresource: m[5] } : undefined;
      const verb = verbOf(req.method ?? 'GET', !!route?.name, url.searchParams.get('watch') === 'true');
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: url.pathname,
        verb,
        apiGroup: route?.apiGroup ?? '',
        resource: route ? `${route.resource}${route.subresource ? `/${route.subresource}` : ''}` : url.pathname,
        namespace: route?.namespace ?? '',
        ...(route?.name ? { name: route.name } : {}),
        status: 0,
        ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      };
      const send = (code: number, obj: KubeObject) => {
        record.status = code;
        this.requests.push(record);
        res.statusCode = code;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(obj));
      };
      if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
      if (!route) return send(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
      if (this.rbac && !allows(this.rbac.get(route.namespace) ?? [], { verb, apiGroup: route.apiGroup, resource: record.resource, name: route.name })) {
        return send(
          403,
          status(
            403,
            'Forbidden',
            `${record.resource} "${route.name ?? ''}" is forbidden: User "system:serviceaccount:test:restore-agent" cannot ${verb} resource "${record.resource}" in API group "${route.apiGroup}" in the namespace "${route.namespace}"`,
          ),
        );
      }
      let parsed: any;
      try {
        parsed = body ? JSON.parse(body) : undefined;
      } catch {
        return send(400, status(400, 'BadRequest', 'the body is not JSON'));
      }
      try {
        this.beforeServe?.(record, parsed);
        const [code, obj] = this.serve(route, verb, url, parsed, req.headers['content-type'] ?? '');
        send(code, obj);
      } catch (err) {
        send(500, status(500, 'InternalError', (err as Error).message));
      }
    });
  }

  private store(resource: string): Map<string, KubeObject> | undefined {
    return (
      {
        deployments: this.model.deployments,
        secrets: this.model.secrets,
        configmaps: this.model.configmaps,
        leases: this.model.leases,
        persistentvolumeclaims: this.model.pvcs,
      } as Record<string, Map<string, KubeObject>>
    )[resource];
  }

  private serve(r: Route, verb: string, url: URL, body: any, contentType: string): [number, KubeObject] {
    this.model.settle();
    if (r.resource === 'pods' && verb === 'list') {
      return [
        200,
        {
          apiVersion: 'v1',
          kind: 'PodList',
          metadata: { resourceVersion: this.model.nextVersion() },
          items: this.model.listPods(r.namespace, url.searchParams.get('labelSelector') ?? ''),
        },
      ];
    }
    const store = this.store(r.resource);
    if (!store) return [404, status(404, 'NotFound', `no ${r.resource} here`)];
    const k = `${r.namespace}/${r.name}`;
    const obj = r.name ? store.get(k) : undefined;
    const notFound = (): [number, KubeObject] => [404, status(404, 'NotFound', `${r.resource} "${r.name}" not found`)];
    const stale = (rv: unknown, current: KubeObject) =>
      rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion
        ? ([
            409,
            status(
              409,
              'Conflict',
              `Operation cannot be fulfilled on ${r.resource} "${r.name}": the object has been modified; please apply your changes to the latest version and try again`,
            ),
          ] as [number, KubeObject])
        : undefined;

    if (r.subresource === 'scale' && r.resource === 'deployments') {
      if (!obj) return notFound();
      const scale = () => ({
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: { name: r.name, namespace: r.namespace, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid },
        // The real server leaves replicas out at 0 (omitempty).
        spec: obj.spec.replicas ? { replicas: obj.spec.replicas } : {},
        status: { replicas: obj.status.replicas, selector: `flightctl.service=${r.name}` },
      });
      if (verb === 'get') return [200, scale()];
      if (verb === 'update') {
        const conflict = stale(body?.metadata?.resourceVersion, obj);
        if (conflict) return conflict;
        this.model.setReplicas(obj, body?.spec?.replicas ?? 0);
        return [200, scale()];
      }
      if (verb === 'patch') {
        if (!contentType.includes('merge-patch')) return [415, status(415, 'UnsupportedMediaType', `${contentType} is not served for scale here`)];
        const conflict = stale(body?.metadata?.resourceVersion, obj);
        if (conflict) return conflict;
        this.model.setReplicas(obj, mergePatch(scale(), body).spec?.replicas ?? 0);
        return [200, scale()];
      }
      return [405, status(405, 'MethodNotAllowed', verb)];
    }

    switch (verb) {
      case 'get':
        return obj ? [200, obj] : notFound();
      case 'list': {
        const want = (url.searchParams.get('labelSelector') ?? '')
          .split(',')
          .filter(Boolean)
          .map((s) => s.split('='));
        const items = [...store.entries()]
          .filter(([key, o]) => key.startsWith(`${r.namespace}/`) && want.every(([lk, lv]) => o.metadata.labels?.[lk!] === lv))
          .map(([, o]) => o);
        return [200, { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: this.model.nextVersion() }, items }];
      }
      case 'create': {
        const name = body?.metadata?.name;
        if (!name) return [422, status(422, 'Invalid', 'metadata.name is required')];
        if (store.has(`${r.namespace}/${name}`)) return [409, status(409, 'AlreadyExists', `${r.resource} "${name}" already exists`)];
        const created = {
          ...body,
          metadata: {
            ...body.metadata,
            namespace: r.namespace,
            uid: randomBytes(8).toString('hex'),
            resourceVersion: this.model.nextVersion(),
            creationTimestamp: new Date().toISOString(),
          },
        };
        store.set(`${r.namespace}/${name}`, created);
        return [201, created];
      }
      case 'update': {
        if (!obj) return notFound();
        const conflict = stale(body?.metadata?.resourceVersion, obj);
        if (conflict) return conflict;
        const updated = {
          ...body,
          metadata: { ...body.metadata, uid: obj.metadata.uid, creationTimestamp: obj.metadata.creationTimestamp, resourceVersion: this.model.nextVersion() },
        };
        if (r.resource === 'deployments') updated.status = obj.status;
        store.set(k, updated);
        return [200, updated];
      }
      case 'patch': {
        if (!obj) return notFound();
        if (!/merge-patch|strategic-merge-patch/.test(contentType)) return [415, status(415, 'UnsupportedMediaType', `${contentType} is not served here`)];
        const conflict = stale(body?.metadata?.resourceVersion, obj);
        if (conflict) return conflict;
        const { resourceVersion: _ignored, ...meta } = body?.metadata ?? {};
        const patched = mergePatch(obj, { ...body, ...(body?.metadata ? { metadata: meta } : {}) });
        patched.metadata.resourceVersion = this.model.nextVersion();
        if (r.resource === 'deployments' && JSON.stringify(patched.spec) !== JSON.stringify(obj.spec))
          patched.metadata.generation = obj.metadata.generation + 1;
        store.set(k, patched);
        return [200, patched];
      }
      case 'delete':
        if (!obj) return notFound();
        store.delete(k);
        return [200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: r.name, kind: r.resource } }];
      default:
        return [405, status(405, 'MethodNotAllowed', verb)];
    }
  }
}

function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

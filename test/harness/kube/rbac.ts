import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** One RBAC rule, as in a Role. */
export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** What one request needs. */
export interface Need {
  verb: string;
  apiGroup: string;
  resource: string;
  name?: string | undefined;
}

/**
 * Whether the rules allow it, as Kubernetes' RBAC decides: a rule matches group, resource (with
 * its subresource) and verb; resourceNames, when given, must name the object, and cannot allow
 * create or list (those have no name).
 */
export function allows(rules: Rule[], need: Need): boolean {
  return rules.some(
    (r) =>
      (r.apiGroups.includes(need.apiGroup) || r.apiGroups.includes('*')) &&
      (r.resources.includes(need.resource) || r.resources.includes('*')) &&
      (r.verbs.includes(need.verb) || r.verbs.includes('*')) &&
      (!r.resourceNames?.length || (need.name !== undefined && r.resourceNames.includes(need.name))),
  );
}

/** "namespace apiGroup resource verb" for every grant: what a set of rules allows, as comparable lines. */
export function grants(byNamespace: Map<string, Rule[]>): string[] {
  const out = new Set<string>();
  for (const [ns, rules] of byNamespace) {
    for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${ns} ${g || 'core'} ${res} ${v}`);
  }
  return [...out].sort();
}

/** The same lines for what requests used. */
export function used(requests: { namespace: string; apiGroup: string; resource: string; verb: string }[]): string[] {
  return [...new Set(requests.map((r) => `${r.namespace} ${r.apiGroup || 'core'} ${r.resource} ${r.verb}`))].sort();
}

export interface Manifests {
  docs: Record<string, any>[];
  /** The rules bound to the service account, per namespace (Roles through RoleBindings). */
  rules: Map<string, Rule[]>;
}

/** Reads YAML manifests and resolves which Roles a service account is bound to. */
export function loadManifests(files: string[], serviceAccount: { name: string; namespace: string }): Manifests {
  const docs = files
    .flatMap((f) =>
      parseAllDocuments(readFileSync(f, 'utf8')).map((d) => {
        if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
        return d.toJS() as Record<string, any>;
      }),
    )
    .filter(Boolean);
  const roles = new Map(docs.filter((d) => d.kind === 'Role').map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, d]));
  const rules = new Map<string, Rule[]>();
  for (const b of docs.filter((d) => d.kind === 'RoleBinding')) {
    const bound = (b.subjects ?? []).some(
      (s: any) => s.kind === 'ServiceAccount' && s.name === serviceAccount.name && s.namespace === serviceAccount.namespace,
    );
    if (!bound || b.roleRef?.kind !== 'Role') continue;
    const role = roles.get(`${b.metadata.namespace}/${b.roleRef.name}`);
    if (!role) throw new Error(`RoleBinding ${b.metadata.namespace}/${b.metadata.name} names a Role that is not in the manifests`);
    rules.set(b.metadata.namespace, [...(rules.get(b.metadata.namespace) ?? []), ...role.rules]);
  }
  return { docs, rules };
}

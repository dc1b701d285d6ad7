import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import { RestoreError } from '../lib/errors.js';
import { CONFIG_KEYS, configSchema, type Config } from './schema.js';

/** Environment variables that set config keys (passwords are read elsewhere and never stored here). */
export const ENV_KEYS: Readonly<Record<string, string>> = Object.fromEntries(CONFIG_KEYS.filter((k) => k.env).map((k) => [k.env!, k.key]));

/** The flag each key is set by, as a person typed it ("--state-dir"). */
const FLAG_NAMES = new Map(CONFIG_KEYS.filter((k) => k.flag).map((k) => [k.key, k.flag!.split(' ')[0]!]));

export interface ConfigSources {
  /** YAML file given with --config. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Flags the user actually gave, as dotted keys ("db.port": "5433"). */
  flags?: Record<string, unknown>;
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]!] = value;
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `config file ${file} cannot be read (${reason})`, { file });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { file });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `config file ${file} must hold a mapping of keys (e.g. "db:\\n  host: ...")`, { file });
  }
  return doc as Tree;
}

function describeIssue(issue: ZodIssue, origin: Map<string, string>): string {
  const key = issue.path.join('.') || '(root)';
  const from = origin.get(key);
  const where = from ? ` (from ${from})` : '';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    return `unknown key ${issue.keys.map((k) => prefix + k).join(', ')}${where}`;
  }
  if (issue.code === 'invalid_enum_value') {
    return `${key}${where}: "${String(issue.received)}" is not allowed; allowed: ${issue.options.join(', ')}`;
  }
  return `${key}${where}: ${issue.message}`;
}

const EXPLICIT = Symbol('explicitly set keys');

/**
 * Whether a key was set by the file, the environment or a flag rather than left at its default:
 * on Kubernetes the database's default address is its Service, unless one was given.
 */
export function isExplicit(config: Readonly<Config>, key: string): boolean {
  const keys = (config as { [EXPLICIT]?: ReadonlySet<string> })[EXPLICIT];
  return !!keys?.has(key);
}

function leafKeys(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) =>
    v && typeof v === 'object' && !Array.isArray(v) ? leafKeys(v as Tree, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the one frozen Config: defaults, then the YAML file, then the environment, then flags.
 * An invalid value fails with the key, where it came from and what is allowed.
 */
export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const tree: Tree = sources.file ? readYaml(sources.file) : {};
  const origin = new Map<string, string>();
  if (sources.file) origin.set('(file)', sources.file);
  const env = sources.env ?? {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(tree, key, value);
      origin.set(key, `environment ${name}`);
    }
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    setPath(tree, key, value);
    origin.set(key, `flag ${FLAG_NAMES.get(key) ?? key}`);
  }
  const parsed = configSchema.safeParse(tree);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => describeIssue(i, origin));
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, { problems });
  }
  // Not enumerable: never printed, compared or serialized with the configuration.
  Object.defineProperty(parsed.data, EXPLICIT, { value: new Set(leafKeys(tree)), enumerable: false });
  return deepFreeze(parsed.data);
}

import { RestoreError } from '../lib/errors.js';

/**
 * Kubernetes-style selectors, as Flight Control accepts them for labels and device fields
 * (FLIGHTCTL.md §5): `env=prod,region in (a,b),!canary`. Parsing is pure and strict: anything
 * that is not understood is an error naming the offending part, never silently ignored.
 */
export type Operator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!';

export interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

export type SelectorKind = 'label' | 'field';

export const DEVICE_FIELDS = [
  'metadata.name',
  'metadata.owner',
  'metadata.alias',
  'metadata.creationTimestamp',
  'status.summary.status',
  'status.updated.status',
  'status.lifecycle.status',
  'status.applicationsSummary.status',
] as const;
export type DeviceField = (typeof DEVICE_FIELDS)[number];

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function fail(kind: SelectorKind, input: string, why: string): never {
  throw new RestoreError('RESTORE_ERR_SELECTOR_INVALID', `invalid ${kind} selector "${input}": ${why}`, { kind, selector: input });
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(kind: SelectorKind, input: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of input) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0 || depth > 1) fail(kind, input, 'unbalanced parentheses');
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) fail(kind, input, 'unbalanced parentheses');
  parts.push(current);
  return parts.map((p) => p.trim());
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"')))) return v.slice(1, -1);
  return v;
}

function checkKey(kind: SelectorKind, input: string, key: string): void {
  if (kind === 'field') {
    if (!(DEVICE_FIELDS as readonly string[]).includes(key)) {
      fail(kind, input, `unknown field "${key}"; allowed: ${DEVICE_FIELDS.join(', ')}`);
    }
    return;
  }
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_PREFIX.test(prefix))) fail(kind, input, `label key prefix "${prefix}" is not a DNS subdomain`);
  if (!NAME.test(name)) fail(kind, input, `label key "${key}" must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
}

function checkValue(kind: SelectorKind, input: string, value: string, key: string): void {
  if (key === 'metadata.creationTimestamp' && Number.isNaN(Date.parse(value))) {
    fail(kind, input, `"${value}" is not a timestamp (use RFC 3339, e.g. 2026-01-31T12:00:00Z)`);
  }
  if (kind === 'label' && value !== '' && !NAME.test(value)) {
    fail(kind, input, `label value "${value}" must be empty or 1-63 characters of letters, digits, '-', '_' or '.'`);
  }
  if (kind === 'field' && /[(),]/.test(value)) fail(kind, input, `value "${value}" contains a reserved character`);
}

function parseRequirement(kind: SelectorKind, input: string, part: string): Requirement {
  if (part === '') fail(kind, input, 'empty requirement (stray comma?)');
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (setMatch) {
    const [, key, op, list] = setMatch as unknown as [string, string, 'in' | 'notin', string];
    checkKey(kind, input, key);
    const values = list.split(',').map(unquote);
    if (values.length === 1 && values[0] === '' && list.trim() === '') fail(kind, input, `"${key} ${op}" needs at least one value`);
    values.forEach((v) => checkValue(kind, input, v, key));
    return { key, op, values };
  }
  if (part.startsWith('!')) {
    const key = part.slice(1).trim();
    checkKey(kind, input, key);
    return { key, op: '!', values: [] };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (eq) {
    const [, key, rawOp, rawValue] = eq as unknown as [string, string, string, string];
    checkKey(kind, input, key);
    const value = unquote(rawValue);
    if (/[=!]/.test(value.charAt(0))) fail(kind, input, `unexpected operator in "${part}"`);
    checkValue(kind, input, value, key);
    return { key, op: rawOp === '!=' ? '!=' : '=', values: [value] };
  }
  if (/^[^\s=!()]+$/.test(part)) {
    checkKey(kind, input, part);
    return { key: part, op: 'exists', values: [] };
  }
  return fail(kind, input, `cannot parse "${part}"; expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)`);
}

export function parseSelector(kind: SelectorKind, input: string): Requirement[] {
  if (input.trim() === '') fail(kind, input, 'it is empty');
  return splitTopLevel(kind, input).map((part) => parseRequirement(kind, input, part));
}

import { RestoreError } from '../lib/errors.js';

/**
 * Kubernetes-style selectors, as Flight Control accepts them for labels and device fields
 * (FLIGHTCTL.md §5): `env=prod,region in (a,b),!canary`. Parsing is pure and strict: anything
 * that is not understood is an error naming the offending part, never silently ignored.
 */
export type Operator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'contains' | 'notcontains';

export interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

export type SelectorKind = 'label' | 'field';

/**
 * The device fields Flight Control selects on, with the type it gives each one (its Device model and
 * internal/store/model/selectors.go): `text` is a text column, `statusText` a text read out of the
 * status JSON, `timestamp` a timestamp column. `metadata.nameOrAlias` is Flight Control's shorthand
 * for "metadata.name or metadata.alias" (the device's `alias` label); the selector names are
 * case-sensitive, as there.
 */
const DEVICE_FIELD_TYPES = {
  'metadata.name': 'text',
  'metadata.owner': 'text',
  'metadata.alias': 'text',
  'metadata.nameOrAlias': 'text',
  'metadata.creationTimestamp': 'timestamp',
  'status.summary.status': 'statusText',
  'status.updated.status': 'statusText',
  'status.lifecycle.status': 'statusText',
  'status.applicationsSummary.status': 'statusText',
  'status.capabilities.osMode': 'statusText',
} as const;
export type DeviceField = keyof typeof DEVICE_FIELD_TYPES;
export type DeviceFieldType = (typeof DEVICE_FIELD_TYPES)[DeviceField];
export const DEVICE_FIELDS = Object.keys(DEVICE_FIELD_TYPES) as readonly DeviceField[];

/**
 * Operators per field type, as Flight Control allows them: partial matches (`contains`,
 * `notcontains`) only on text columns, never on a text read out of JSON. Flight Control also
 * orders timestamps (`<`, `<=`, `>`, `>=`); this tool does not, and says so.
 */
const OPERATORS_BY_TYPE: Record<DeviceFieldType, readonly Operator[]> = {
  text: ['=', '!=', 'in', 'notin', 'contains', 'notcontains', 'exists', '!'],
  statusText: ['=', '!=', 'in', 'notin', 'exists', '!'],
  timestamp: ['=', '!=', 'in', 'notin', 'exists', '!'],
};

/** The operators a field accepts, as a user writes them (`=` also as `==`). */
export function deviceFieldOperators(field: DeviceField): string[] {
  return OPERATORS_BY_TYPE[DEVICE_FIELD_TYPES[field]].flatMap((op) => (op === '=' ? ['=', '=='] : [op]));
}

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
    if (!Object.hasOwn(DEVICE_FIELD_TYPES, key)) {
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

/** A field takes only the operators Flight Control allows for its type (`written` is how the user wrote it). */
function checkOperator(kind: SelectorKind, input: string, key: string, op: Operator | undefined, written: string): void {
  if (kind !== 'field') return;
  const field = key as DeviceField;
  if (op === undefined || !OPERATORS_BY_TYPE[DEVICE_FIELD_TYPES[field]].includes(op)) {
    fail(kind, input, `operator "${written}" is not supported for field "${key}"; allowed: ${deviceFieldOperators(field).join(', ')}`);
  }
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
    checkOperator(kind, input, key, op, op);
    const values = list.split(',').map(unquote);
    if (values.length === 1 && values[0] === '' && list.trim() === '') fail(kind, input, `"${key} ${op}" needs at least one value`);
    values.forEach((v) => checkValue(kind, input, v, key));
    return { key, op, values };
  }
  // Partial matches exist for device fields only: `key contains value`, `key notcontains value`.
  const partial = kind === 'field' ? /^(\S+)\s+(contains|notcontains)(?:\s+(.*))?$/.exec(part) : null;
  if (partial) {
    const [, key, op, rawValue = ''] = partial as unknown as [string, string, 'contains' | 'notcontains', string | undefined];
    checkKey(kind, input, key);
    checkOperator(kind, input, key, op, op);
    const value = unquote(rawValue);
    checkValue(kind, input, value, key);
    // Flight Control matches with SQL LIKE '%value%' and refuses '%' in the value.
    if (value.includes('%')) fail(kind, input, `the value of "${key} ${op}" cannot contain '%'`);
    return { key, op, values: [value] };
  }
  if (part.startsWith('!')) {
    const key = part.slice(1).trim();
    checkKey(kind, input, key);
    checkOperator(kind, input, key, '!', '!');
    return { key, op: '!', values: [] };
  }
  // Flight Control's ordering operators: known, so that the error names them and the field.
  const ordering = kind === 'field' ? /^([^=!<>\s]+)\s*(<=|>=|<|>)\s*(.*)$/.exec(part) : null;
  if (ordering) {
    const [, key, written] = ordering as unknown as [string, string, string];
    checkKey(kind, input, key);
    checkOperator(kind, input, key, undefined, written);
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (eq) {
    const [, key, rawOp, rawValue] = eq as unknown as [string, string, string, string];
    checkKey(kind, input, key);
    const op = rawOp === '!=' ? '!=' : '=';
    checkOperator(kind, input, key, op, rawOp);
    const value = unquote(rawValue);
    if (/[=!]/.test(value.charAt(0))) fail(kind, input, `unexpected operator in "${part}"`);
    checkValue(kind, input, value, key);
    return { key, op, values: [value] };
  }
  if (/^[^\s=!()]+$/.test(part)) {
    checkKey(kind, input, part);
    checkOperator(kind, input, part, 'exists', 'exists');
    return { key: part, op: 'exists', values: [] };
  }
  const forms = [
    'key',
    '!key',
    'key=value',
    'key!=value',
    'key in (a,b)',
    'key notin (a,b)',
    ...(kind === 'field' ? ['key contains value', 'key notcontains value'] : []),
  ];
  return fail(kind, input, `cannot parse "${part}"; expected ${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`);
}

export function parseSelector(kind: SelectorKind, input: string): Requirement[] {
  if (input.trim() === '') fail(kind, input, 'it is empty');
  return splitTopLevel(kind, input).map((part) => parseRequirement(kind, input, part));
}

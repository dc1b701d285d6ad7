/**
 * Host names in an inventory, as Ansible reads them (parse_address and expand_hostname_range):
 * an optional `:port` suffix, and ranges such as `node[01:20]`, `db-[a:f]` or `web[0:10:2]`,
 * which become one host each. Ported rule by rule so that a name means the same host list here
 * as in Ansible; the tests compare both on the same inventories.
 */
export class HostPatternError extends Error {}

const NUM_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const V6 = `(?:[0-9a-f]{1,4}|${HEX_RANGE})`;
const V4 = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUM_RANGE})`;
const WORD = String.raw`[\p{L}\p{N}\p{M}_]`;
const LABEL = `(?:${WORD}|${ALNUM_RANGE})(?:${WORD}|[_-]|${ALNUM_RANGE})*(?<![_-])`;

const PATTERNS = {
  bracketedHostPort: /^\[(.+)\]:([0-9]+)$/,
  hostPort: /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/,
  ipv4: new RegExp(`^(?:${V4}\\.){3}${V4}$`, 'i'),
  // As in Ansible, only the last alternative is anchored at the end (Python's re.match).
  ipv6: new RegExp(
    [
      `^(?:${V6}:){7}${V6}`,
      `^(?:${V6}:){1,6}:`,
      `^(?:${V6}:)(?::${V6}){1,6}`,
      `^(?:${V6}:){2}(?::${V6}){1,5}`,
      `^(?:${V6}:){3}(?::${V6}){1,4}`,
      `^(?:${V6}:){4}(?::${V6}){1,3}`,
      `^(?:${V6}:){5}(?::${V6}){1,2}`,
      `^(?:${V6}:){6}(?::${V6})`,
      `^:(?::${V6}){1,6}`,
      `^${V6}?::`,
      `^(?:0:){6}(?:${V6}\\.){3}${V6}`,
      `^::(?:ffff:)?(?:${V6}\\.){3}${V6}`,
      `^(?:0:){5}ffff:(?:${V6}\\.){3}${V6}$`,
    ].join('|'),
    'i',
  ),
  hostname: new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'iu'),
};

/** Ansible's parse_address(address, allow_ranges=True); undefined when it is not an address. */
export function parseAddress(address: string): { host: string; port: number | undefined } | undefined {
  let a = address;
  let port: number | undefined;
  for (const re of [PATTERNS.bracketedHostPort, PATTERNS.hostPort]) {
    const m = re.exec(a);
    if (m) {
      a = m[1]!;
      port = Number(m[2]);
    }
  }
  if (PATTERNS.ipv4.test(a) || PATTERNS.ipv6.test(a) || PATTERNS.hostname.test(a)) return { host: a, port };
  return undefined;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PY_INT = /^\s*[+-]?\d(?:_?\d)*\s*$/;

function pyInt(text: string, what: string): number {
  if (!PY_INT.test(text)) throw new HostPatternError(`host range ${what} "${text}" is not a number`);
  return Number(text.replace(/_/g, ''));
}

/** Ansible's expand_hostname_range: the first [..] set, then recursively the rest. */
export function expandHostRange(line: string): string[] {
  const parts = line.replace('[', '|').replace(']', '|').split('|');
  if (parts.length !== 3) throw new HostPatternError(`host range in "${line}" is not one [begin:end] or [begin:end:step]`);
  const [head, nrange, tail] = parts as [string, string, string];
  const bounds = nrange.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw new HostPatternError('host range must be begin:end or begin:end:step');
  const beg = bounds[0] || '0';
  const end = bounds[1]!;
  const step = bounds.length === 3 ? pyInt(bounds[2]!, 'step') : 1;
  if (!end) throw new HostPatternError('host range must specify end value');
  let fill = (x: string | number) => String(x);
  if (beg[0] === '0' && beg.length > 1) {
    if (beg.length !== end.length) throw new HostPatternError('host range must specify equal-length begin and end formats');
    fill = (x) => String(x).padStart(beg.length, '0');
  }
  if (step === 0) throw new HostPatternError('host range step must not be zero');
  let seq: Array<string | number>;
  const iBeg = LETTERS.indexOf(beg);
  const iEnd = LETTERS.indexOf(end);
  if (iBeg >= 0 && iEnd >= 0) {
    if (iBeg > iEnd) throw new HostPatternError('host range must have begin <= end');
    seq = [];
    if (step > 0) for (let i = iBeg; i <= iEnd; i += step) seq.push(LETTERS[i]!);
  } else {
    const b = pyInt(beg, 'begin');
    const e = pyInt(end, 'end') + 1;
    seq = [];
    if (step > 0) for (let i = b; i < e; i += step) seq.push(i);
    else for (let i = b; i > e; i += step) seq.push(i);
  }
  const hosts: string[] = [];
  for (const r of seq) {
    const name = `${head}${fill(r)}${tail}`;
    if (name.includes('[')) hosts.push(...expandHostRange(name));
    else hosts.push(name);
  }
  return hosts;
}

/** One host entry of an inventory: the names it stands for and the port it gives them. */
export function expandHostEntry(entry: string): { names: string[]; port: number | undefined } {
  const parsed = parseAddress(entry);
  const pattern = parsed?.host ?? entry;
  return { names: pattern.includes('[') ? expandHostRange(pattern) : [pattern], port: parsed?.port };
}

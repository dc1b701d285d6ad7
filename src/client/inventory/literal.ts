/**
 * INI inventory values become typed the way Ansible types them (Python's ast.literal_eval, and
 * the text itself when that fails): integers, floats, True/False/None and quoted strings. Lists
 * and dictionaries stay text here; the client reads only string variables, and the comparison
 * tests against ansible-inventory cover exactly these types.
 */
export type InventoryValue = string | number | boolean | null | InventoryValue[] | { [k: string]: InventoryValue };

const INT = /^[+-]?(?:0|[1-9](?:_?\d)*)$/;
const RADIX = /^([+-]?)0([xob])([0-9a-f](?:_?[0-9a-f])*)$/i;
const FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:e[+-]?\d(?:_?\d)*)?$/i;

function evalLiteral(text: string): { ok: true; value: InventoryValue } | { ok: false } {
  const t = text.replace(/\s+$/, '');
  if (t === '' || /^\s/.test(t)) return { ok: false };
  if (t === 'True') return { ok: true, value: true };
  if (t === 'False') return { ok: true, value: false };
  if (t === 'None') return { ok: true, value: null };
  if (INT.test(t)) return { ok: true, value: Number(t.replace(/_/g, '')) };
  const r = RADIX.exec(t);
  if (r) {
    const n = parseInt(r[3]!.replace(/_/g, ''), { x: 16, o: 8, b: 2 }[r[2]!.toLowerCase()]!);
    return { ok: true, value: r[1] === '-' ? -n : n };
  }
  if (FLOAT.test(t) && /[.e]/i.test(t)) return { ok: true, value: Number(t.replace(/_/g, '')) };
  const q = t[0];
  if ((q === '"' || q === "'") && t.length >= 2 && t.endsWith(q)) {
    const body = t.slice(1, -1);
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (c === q) return { ok: false }; // an unescaped quote inside: not one string literal
      if (c !== '\\') {
        out += c;
        continue;
      }
      const n = body[++i];
      if (n === undefined) return { ok: false };
      out += ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' } as Record<string, string>)[n] ?? `\\${n}`;
    }
    return { ok: true, value: out };
  }
  return { ok: false };
}

/** A value from an INI inventory: typed when Python would read it as a literal, else the text. */
export function parseIniValue(text: string): InventoryValue {
  const whole = evalLiteral(text);
  if (whole.ok) return whole.value;
  // Python's parser drops a trailing comment: "8443 # agent port" is still the number.
  const hash = text.indexOf('#');
  if (hash > 0 && !/['"]/.test(text.slice(0, hash))) {
    const head = evalLiteral(text.slice(0, hash));
    if (head.ok) return head.value;
  }
  return text;
}

import { Option, type Command } from 'commander';
import { CONFIG_KEYS, type ConfigKey } from '../../config/schema.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.join(value.every((v) => String(v).startsWith('/')) ? ':' : ',') : 'none';
  return value === '' ? 'none' : String(value);
}

/** The configuration validates the value (naming the key and where it came from), not commander. */
function optionOf(k: ConfigKey): Option {
  const choices = k.choices ? `: ${k.choices.join(', ')}` : '';
  const o = new Option(k.flag!, `${k.doc}${choices} (${k.key}; default ${shown(k.default)})`);
  if (k.repeatable) o.argParser(collect);
  return o;
}

/**
 * Every configuration key that has a flag, on the program itself: every command takes the same
 * flags under the same names, before or after the command, and one that does not need a key
 * ignores it. The flags come from the configuration's one table (config/schema.ts).
 */
export function configFlags(program: Command): Command {
  for (const k of CONFIG_KEYS) if (k.flag) program.addOption(optionOf(k));
  return program;
}

const BY_ATTRIBUTE = new Map(CONFIG_KEYS.filter((k) => k.flag).map((k) => [optionOf(k).attributeName(), k.key]));

/** The flags given, as dotted configuration keys ({"db.port": "5433"}). */
export function configFlagValues(cmd: Command): Record<string, unknown> {
  const all = cmd.optsWithGlobals() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [attr, key] of BY_ATTRIBUTE) if (all[attr] !== undefined) out[key] = all[attr];
  return out;
}

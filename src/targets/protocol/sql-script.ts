import { RestoreError } from '../../lib/errors.js';

/**
 * What psql would send to the server, one piece at a time, from a script fed line by line: a
 * statement (`;` at the top level, or `\g`/`\gexec`), a COPY ... FROM stdin whose data lines
 * follow in the script, or a psql meta-command. It splits exactly where psql's lexer does:
 * never inside quotes ('', "", E'' with backslash escapes, $tag$ bodies), comments (--, nested
 * block comments) or parentheses. A plain pg_dump holds only these; anything else psql would run
 * as a meta-command (\i, \set, ...) is refused rather than sent.
 */
export type ScriptItem = { kind: 'sql'; text: string; gexec: boolean } | { kind: 'copy'; text: string } | { kind: 'meta'; command: string; args: string };

/** Meta-commands pg_dump writes that only guard psql itself (pg_dump 17.6, 16.10, 15.14 and later). */
const HARMLESS_META = new Set(['restrict', 'unrestrict']);

type Mode = 'normal' | 'squote' | 'estring' | 'dquote' | 'dollar' | 'block';

const IDENT_CHAR = /[A-Za-z0-9_$\x80-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$/;
const COPY_FROM_STDIN = /^COPY\s[\s\S]*\sFROM\s+stdin\b/i;

export class ScriptSplitter {
  private buf = '';
  private mode: Mode = 'normal';
  private tag = '';
  private blockDepth = 0;
  private parens = 0;

  /** Feeds one line (without its line break); answers the items it completes. */
  pushLine(line: string): ScriptItem[] {
    const out: ScriptItem[] = [];
    let i = 0;
    let start = 0;
    const n = line.length;
    while (i < n) {
      const c = line[i]!;
      switch (this.mode) {
        case 'squote':
          if (c === "'") this.mode = line[i + 1] === "'" ? (i++, 'squote') : 'normal';
          i++;
          continue;
        case 'estring':
          if (c === '\\') i += 2;
          else {
            if (c === "'") this.mode = line[i + 1] === "'" ? (i++, 'estring') : 'normal';
            i++;
          }
          continue;
        case 'dquote':
          if (c === '"') this.mode = line[i + 1] === '"' ? (i++, 'dquote') : 'normal';
          i++;
          continue;
        case 'dollar': {
          const close = line.indexOf(this.tag, i);
          if (close < 0) {
            i = n;
            continue;
          }
          i = close + this.tag.length;
          this.mode = 'normal';
          continue;
        }
        case 'block':
          if (c === '/' && line[i + 1] === '*') {
            this.blockDepth++;
            i += 2;
          } else if (c === '*' && line[i + 1] === '/') {
            i += 2;
            if (--this.blockDepth === 0) this.mode = 'normal';
          } else i++;
          continue;
        case 'normal':
          break;
      }
      if (c === '-' && line[i + 1] === '-') {
        // A line comment: the rest of the line. psql keeps it in the buffer; so do we.
        i = n;
        continue;
      }
      if (c === '/' && line[i + 1] === '*') {
        this.mode = 'block';
        this.blockDepth = 1;
        i += 2;
        continue;
      }
      const prev = i > 0 ? line[i - 1]! : ' ';
      if (c === "'") {
        this.mode = (prev === 'E' || prev === 'e') && !IDENT_CHAR.test(i > 1 ? line[i - 2]! : ' ') ? 'estring' : 'squote';
        i++;
        continue;
      }
      if (c === '"') {
        this.mode = 'dquote';
        i++;
        continue;
      }
      if (c === '$' && !IDENT_CHAR.test(prev)) {
        const m = DOLLAR_TAG.exec(line.slice(i));
        if (m) {
          this.mode = 'dollar';
          this.tag = m[0];
          i += m[0].length;
          continue;
        }
      }
      if (c === '(') this.parens++;
      else if (c === ')') this.parens = Math.max(0, this.parens - 1);
      else if (c === ';' && this.parens === 0) {
        this.buf += line.slice(start, i + 1);
        out.push(this.statement(false));
        i++;
        start = i;
        if (out.at(-1)!.kind === 'copy') return out; // the data starts on the next line
        continue;
      } else if (c === '\\') {
        // A meta-command runs to the end of the line.
        this.buf += line.slice(start, i);
        const [command = '', ...rest] = line
          .slice(i + 1)
          .trim()
          .split(/\s+/);
        out.push(...this.meta(command, rest.join(' ')));
        return out;
      }
      i++;
    }
    this.buf += `${line.slice(start)}\n`;
    return out;
  }

  /** The end of the script: psql sends what is left in its buffer. */
  end(): ScriptItem[] {
    if (this.mode !== 'normal' && this.mode !== 'block') {
      throw new RestoreError(
        'RESTORE_ERR_DUMP_INVALID',
        `the script ends inside a ${this.mode === 'dollar' ? `${this.tag} body` : 'quoted string'}: it is cut off`,
      );
    }
    return isBlank(this.buf) ? [] : [this.statement(false)];
  }

  private statement(gexec: boolean): ScriptItem {
    const text = this.buf.trim();
    this.buf = '';
    this.parens = 0;
    return !gexec && COPY_FROM_STDIN.test(stripComments(text)) ? { kind: 'copy', text } : { kind: 'sql', text, gexec };
  }

  private meta(command: string, args: string): ScriptItem[] {
    if (command === 'g' || command === 'gexec') return isBlank(this.buf) ? [] : [this.statement(command === 'gexec')];
    if (HARMLESS_META.has(command)) return [{ kind: 'meta', command, args }];
    throw new RestoreError(
      'RESTORE_ERR_DUMP_INVALID',
      command === 'connect' || command === 'c'
        ? 'the dump switches databases (\\connect): it was made with --create or by pg_dumpall'
        : `the dump uses the psql meta-command \\${command}, which a plain pg_dump does not write`,
      { command },
    );
  }
}

function stripComments(text: string): string {
  return text.replace(/^(\s*--[^\n]*\n)+/, '').trim();
}

function isBlank(text: string): boolean {
  return (
    stripComments(`${text}\n`)
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .trim() === ''
  );
}

/** A whole script at once (the agent's own SQL): its items in order. */
export function splitScript(script: string): ScriptItem[] {
  const s = new ScriptSplitter();
  const lines = script.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return [...lines.flatMap((l) => s.pushLine(l)), ...s.end()];
}

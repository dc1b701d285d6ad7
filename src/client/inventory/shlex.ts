/**
 * Splits an INI inventory host line the way Ansible does (Python's shlex.split(line,
 * comments=True) in POSIX mode): whitespace separates words, single quotes keep everything,
 * double quotes let a backslash escape only `"` and `\`, a backslash outside quotes escapes the
 * next character, and an unquoted `#` ends the line, also in the middle of a word.
 */
export class ShlexError extends Error {}

export function shlexSplit(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#') {
      break;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new ShlexError('No escaped character');
      word += line[++i];
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ShlexError('No closing quotation');
  if (inWord) words.push(word);
  return words;
}

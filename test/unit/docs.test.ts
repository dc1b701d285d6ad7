import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { references } from '../../tools/reference.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? markdownFiles(full) : name.endsWith('.md') ? [full] : [];
  });
}

/** GitHub's anchor of a heading: lower case, punctuation gone, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('the documentation', () => {
  it.each(Object.entries(references()))('docs/reference/%s is what `npm run docs` makes of the code now', (name, text) => {
    const committed = path.join(ROOT, 'docs', 'reference', name);
    expect(existsSync(committed), `${committed} is committed`).toBe(true);
    expect(readFileSync(committed, 'utf8'), `docs/reference/${name} is stale: run npm run docs`).toBe(text);
  });

  it('every link between the README and the docs leads to a file and a heading that exist', () => {
    const broken: string[] = [];
    for (const file of [path.join(ROOT, 'README.md'), ...markdownFiles(path.join(ROOT, 'docs'))]) {
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [rel, anchor] = target.split('#') as [string, string | undefined];
        const dest = rel ? path.resolve(path.dirname(file), rel) : file;
        const where = `${path.relative(ROOT, file)} -> ${target}`;
        if (!existsSync(dest)) broken.push(`${where}: no such file`);
        else if (anchor && dest.endsWith('.md') && !anchorsOf(dest).has(anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README is an entry point: short, with the two commands, pointing into docs/', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    expect(readme).toContain('npm run sandbox');
    expect(readme).toContain('npm test');
    for (const page of markdownFiles(path.join(ROOT, 'docs')).filter((f) => !f.includes('/examples/'))) {
      const rel = path.relative(ROOT, page);
      const linked =
        readme.includes(`](${rel})`) ||
        markdownFiles(path.join(ROOT, 'docs')).some((f) => readFileSync(f, 'utf8').includes(`](${path.relative(path.dirname(f), page)})`));
      expect(linked, `${rel} is linked from the README or another page`).toBe(true);
    }
  });
});

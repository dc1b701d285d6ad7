/** `npm run docs`: writes docs/reference/ from the code (tools/reference.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { references } from './reference.js';

// dist/tools/ when built, tools/ under vitest: the project root is two or one levels up.
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const dir = path.join(root, 'docs', 'reference');
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(references())) {
  writeFileSync(path.join(dir, name), text);
  process.stdout.write(`wrote docs/reference/${name}\n`);
}

/**
 * What a production bundle contains, from esbuild's metafile and package-lock.json: every npm
 * package whose code went in (name, version, licence), their licence texts, and the RPM lines
 * that declare them (`Provides: bundled(npm(NAME)) = VERSION`, the License: expression).
 * Used by scripts/bundle.mjs; it fails, naming the package, where it cannot tell a licence or
 * where node_modules does not match the lock file.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Packages whose metadata names no licence, or not as an SPDX identifier: what their licence
 * file says, pinned to the version that was read (a new version gets a human look again).
 */
const KNOWN_LICENCES = {
  'jsbi@2.0.5': 'Apache-2.0', // no licence field; LICENSE is the Apache License 2.0 text
  'map-stream@0.1.0': 'MIT', // no licence field; LICENCE is the MIT text
  '@nornagon/put@0.0.8': 'MIT', // "MIT/X11"; LICENSE is the MIT text
  'pause-stream@0.0.11': '(MIT OR Apache-2.0)', // ["MIT", "Apache2"]: "Dual Licensed MIT and Apache 2"
};

/** Identifiers used as they are (SPDX); anything else must be in KNOWN_LICENCES. */
const SPDX = /^(\(?[A-Za-z0-9.+-]+( (AND|OR) [A-Za-z0-9.+-]+)*\)?)$/;
const WORDS = new Set([
  'MIT',
  'ISC',
  'Apache-2.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  '0BSD',
  'BlueOak-1.0.0',
  'Unlicense',
  'Zlib',
  'AFL-2.1',
  'CC0-1.0',
  'Python-2.0',
  'AND',
  'OR',
]);

function isSpdx(expr) {
  return (
    SPDX.test(expr) &&
    expr
      .replace(/[()]/g, '')
      .split(' ')
      .every((w) => WORDS.has(w))
  );
}

/** The lock key of the package a bundled file belongs to: node_modules/a/node_modules/@s/b. */
function packageKey(input) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? m[1] : undefined;
}

function licenceOf(name, version, lockEntry, pkgJson) {
  const pinned = KNOWN_LICENCES[`${name}@${version}`];
  if (pinned) return pinned;
  const raw = lockEntry.license ?? pkgJson.license ?? pkgJson.licenses;
  const text = typeof raw === 'string' ? raw : Array.isArray(raw) && raw.length === 1 ? (raw[0].type ?? raw[0]) : raw?.type;
  if (typeof text === 'string' && isSpdx(text)) return text;
  throw new Error(
    `cannot tell the licence of ${name}@${version} (its metadata says ${JSON.stringify(raw)}): read its licence file and add it to KNOWN_LICENCES in scripts/bundled-packages.mjs`,
  );
}

/**
 * Every package whose files esbuild put into the bundles (metafiles' inputs), with the version
 * and licence the lock file records, checked against the installed package.json.
 */
export function bundledPackages(root, metafiles) {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const keys = new Set();
  for (const meta of metafiles)
    for (const input of Object.keys(meta.inputs)) {
      const key = packageKey(input);
      if (key) keys.add(key);
    }
  const packages = [];
  for (const key of [...keys].sort()) {
    const entry = lock.packages?.[key];
    if (!entry) throw new Error(`${key} went into the bundle but package-lock.json does not list it: run npm ci, then package again`);
    const pkgJson = JSON.parse(readFileSync(path.join(root, key, 'package.json'), 'utf8'));
    if (pkgJson.version !== entry.version) {
      throw new Error(`${key} is ${pkgJson.version} in node_modules but ${entry.version} in package-lock.json: run npm ci, then package again`);
    }
    if (entry.dev) throw new Error(`${key} went into the bundle but package-lock.json marks it as a devDependency: move it to dependencies`);
    const name = entry.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages.push({ name, version: entry.version, licence: licenceOf(name, entry.version, entry, pkgJson), dir: key });
  }
  return packages;
}

/** Copies each package's licence and notice files to OUT/NAME@VERSION/ and writes the summary. */
export function collectLicences(root, packages, out) {
  mkdirSync(out, { recursive: true });
  const lines = ['Packages bundled into flightctl-restore-agent (name, version, licence):', ''];
  for (const p of packages) {
    const dir = path.join(out, `${p.name.replace('/', '+')}@${p.version}`);
    mkdirSync(dir, { recursive: true });
    const files = readdirSync(path.join(root, p.dir)).filter((f) => /^(licen[cs]e|copying|notice)([.-]|$)/i.test(f));
    for (const f of files) copyFileSync(path.join(root, p.dir, f), path.join(dir, f));
    if (files.length === 0) {
      writeFileSync(path.join(dir, 'LICENSE'), `${p.name} ${p.version} ships no licence file; its package.json declares: ${p.licence}\n`);
    }
    lines.push(`${p.name} ${p.version} ${p.licence}`);
  }
  writeFileSync(path.join(out, 'BUNDLED.txt'), `${lines.join('\n')}\n`);
}

/**
 * The spec's generated include: one Provides per bundled package, and their licences as a macro
 * (without the project's own, which the spec names first).
 */
export function rpmInclude(packages, ownLicence) {
  const seen = new Set();
  const provides = [];
  for (const p of packages) {
    const line = `Provides: bundled(npm(${p.name})) = ${p.version}`;
    if (!seen.has(line)) provides.push(line);
    seen.add(line);
  }
  const licences = [...new Set(packages.map((p) => p.licence))].filter((l) => l !== ownLicence).sort();
  return [
    `# Generated by scripts/bundle.mjs from package-lock.json (${packages.length} bundled packages): do not edit.`,
    `%global bundled_licenses ${licences.join(' AND ')}`,
    ...provides,
    '',
  ].join('\n');
}

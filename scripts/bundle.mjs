#!/usr/bin/env node
/**
 * The production bundle: each binary as one JavaScript file that needs nothing but Node 20 or newer.
 *
 *   node scripts/bundle.mjs [OUTDIR]     (default dist/bundle; scripts/package.sh calls it)
 *
 * OUTDIR gets agent.mjs and restorectl.mjs (ESM, #!/usr/bin/node), a package.json holding the
 * version (the agent reads its version from the package.json next to it), licences/ (the licence
 * files of every bundled package and BUNDLED.txt), bundled.spec.inc (the RPM's Provides and
 * licences, from package-lock.json) and manifest.json (what went in, for the tests).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { bundledPackages, collectLicences, rpmInclude } from './bundled-packages.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist', 'bundle'));
const ENTRIES = { agent: 'src/cli/agent.ts', restorectl: 'src/cli/restorectl.ts' };

/**
 * Optional parts that dependencies load only inside try/catch or on request, and that a
 * production install (npm ci --omit=dev) does not have: ssh2's native crypto binding and
 * cpu-features (docker-modem's ssh transport, never used: the agent talks to Podman over its
 * Unix socket), dbus-next's usocket (it falls back to net) and x11 (session bus autolaunch),
 * pg-native (only behind pg.native), and debug's optional peer supports-color (installed here
 * only for the dev tools). Each becomes a module that throws when loaded, so the bundle neither
 * contains nor needs them and every caller takes its fallback.
 */
const ABSENT = /^(cpu-features|usocket|x11|pg-native|supports-color)$|\.node$/;
const leaveOutOptional = {
  name: 'leave-out-optional',
  setup(build) {
    build.onResolve({ filter: ABSENT }, (args) => ({ path: args.path, namespace: 'absent' }));
    build.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path}: an optional part, left out of this bundle`)});`,
      loader: 'js',
    }));
  },
};

// ESM output keeps the agents' top-level await; the CommonJS dependencies inside still call
// require() for Node's built-in modules and read __dirname (ssh2, dockerode: for files they only
// load on paths the agent never takes), which an ES module has only through these.
const BANNER = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __filename = __bundleFileURLToPath(import.meta.url);',
  "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
].join('\n');

async function bundle(name, entry) {
  const outfile = path.join(OUT, `${name}.mjs`);
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: BANNER },
    // Error classes and loggers print constructor names: keep them readable in bug reports.
    keepNames: true,
    metafile: true,
    logLevel: 'warning',
    plugins: [leaveOutOptional],
  });
  // RHEL's guidelines want no /usr/bin/env shebangs (rpmbuild would rewrite it there, not on Debian).
  const text = readFileSync(outfile, 'utf8').replace(/^#![^\n]*\n/, '');
  writeFileSync(outfile, `#!/usr/bin/node\n${text}`);
  chmodSync(outfile, 0o755);
  return result.metafile;
}

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const metafiles = [];
  const sizes = {};
  for (const [name, entry] of Object.entries(ENTRIES)) {
    metafiles.push(await bundle(name, entry));
    sizes[`${name}.mjs`] = readFileSync(path.join(OUT, `${name}.mjs`)).length;
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(
    path.join(OUT, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, type: 'module', private: true }, null, 2)}\n`,
  );
  const packages = bundledPackages(ROOT, metafiles);
  collectLicences(ROOT, packages, path.join(OUT, 'licenses'));
  writeFileSync(path.join(OUT, 'bundled.spec.inc'), rpmInclude(packages, pkg.license));
  const absent = [...new Set(metafiles.flatMap((m) => Object.keys(m.inputs).filter((i) => i.startsWith('absent:'))))].sort();
  writeFileSync(
    path.join(OUT, 'manifest.json'),
    `${JSON.stringify({ version: pkg.version, sizes, absent, packages: packages.map(({ name, version, licence }) => ({ name, version, licence })) }, null, 2)}\n`,
  );
  process.stderr.write(
    `bundle: ${Object.keys(ENTRIES)
      .map((n) => `${n}.mjs ${(sizes[`${n}.mjs`] / 1e6).toFixed(1)} MB`)
      .join(', ')}; ${packages.length} npm packages inside; ${OUT}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bundle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

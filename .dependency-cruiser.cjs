/**
 * The import rules of src/ (../shared/DESIGN.md: cli -> api -> runbook -> targets, flightctl -> lib),
 * checked by `npm run lint:imports` in `npm test`. A rule broken fails the build with the file and
 * the import that broke it.
 */
const layer = (name, may) => ({
  name: `${name}-imports-only-below`,
  comment: `src/${name}/ imports only ${may.join(', ')} (and itself): ${name} must not know the layers above it.`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...may.map((m) => `^src/${m}/`)] },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A circle of imports: one of them belongs elsewhere (a shared type, an interface owned by the lower module).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    layer('lib', []),
    layer('config', ['lib']),
    layer('flightctl', ['lib', 'config']),
    layer('targets', ['lib', 'config', 'flightctl']),
    layer('runbook', ['lib', 'config', 'flightctl', 'targets']),
    layer('api', ['lib', 'config', 'flightctl', 'targets', 'runbook']),
    // The thin client speaks HTTP to agents: it knows nothing of the engine.
    layer('client', ['lib']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are erased when compiled, but they are dependencies too: count them.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

/**
 * The import rules of src/ (cli -> api -> runbook -> targets -> flightctl -> config, model -> lib),
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
    // What the agent and its clients share: the run and its events, the selector grammar.
    layer('model', ['lib']),
    layer('config', ['lib']),
    layer('flightctl', ['lib', 'model', 'config']),
    layer('targets', ['lib', 'model', 'config', 'flightctl']),
    layer('runbook', ['lib', 'model', 'config', 'flightctl', 'targets']),
    layer('api', ['lib', 'model', 'config', 'flightctl', 'targets', 'runbook']),
    // The thin client speaks HTTP to agents: it knows nothing of the engine.
    layer('client', ['lib', 'model']),
    layer('cli/common', ['lib', 'model']),
    layer('cli/restorectl', ['lib', 'model', 'client', 'cli/common']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are erased when compiled, but they are dependencies too: count them.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

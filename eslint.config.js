// ESLint: the language's rules, and the type-aware ones that matter in an agent that is all
// asynchronous I/O (a promise nobody awaits or catches, a promise where a callback's result is
// ignored). Formatting is Prettier's (eslint-config-prettier turns ESLint's own off). Why these
// tools: docs/architecture.md.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // vitest.config.ts is checked by vitest itself (its project options outrun its own types).
  { ignores: ['dist/**', 'node_modules/**', '.sandbox/**', 'docs/**', 'vitest.config.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Issue 22: a clock set back or forward an hour mid-run must not end a wait early or late.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message: 'durations and deadlines use performance.now() (monotonic); where a wall-clock time is meant (a token, a file time), disable this with why',
        },
      ],
    },
  },
  {
    // The fake Kubernetes API server and its tests hold arbitrary JSON objects of the API.
    files: ['test/harness/kube/**/*.ts', 'test/integration/kubernetes/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
      },
    },
  },
  prettier,
);

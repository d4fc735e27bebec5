import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // A promise returned from a try without await settles after its finally: migrate's finally ended
      // the pool under the query of the promise it returned, and the process exited 13 (unsettled).
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration in src/config only.' }],
    },
  },
  {
    // Job handlers act on the database only: no queue or Redis imports (the worker wiring owns those).
    files: ['src/jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['bullmq', 'ioredis'] }],
    },
  },
  {
    files: ['src/config/**/*.ts', 'src/cli.ts', 'test/**/*.ts', 'bench/**/*.ts', 'src/demo.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['eslint.config.js', 'bin/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);

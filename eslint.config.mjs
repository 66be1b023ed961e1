// Lint for the code's shape (`npm run lint`, run by .ci/run): TypeScript's recommended rules, and
// the boundaries between the folders, so the next change cannot quietly break them:
//   src/shared/   imports nothing outside src/shared/ (engine, hosts and webview all import it)
//   src/engine/   never the hosts, the webview or `vscode`
//   src/vscode/, src/cli/   the engine only through src/engine/index.ts
//   webview/, src/report/   (browser bundles) only webview/ or src/report/ and src/shared/
//   tools/        development tools: anything of src/ but the hosts; nothing in src/ imports them
// plus no import cycles, and no module in src/ or webview/ over 450 lines.
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import tseslint from 'typescript-eslint';

/** A zone of import-x/no-restricted-paths: files in `target` may not import from `from`. */
const zone = (target, from, message, except = []) => ({ target, from, message, except });

const boundaries = [
  zone('./src/shared', './src', 'src/shared imports nothing outside src/shared.', ['./shared']),
  zone('./src/shared', './webview', 'src/shared imports nothing outside src/shared.'),
  zone('./src/shared', './tools', 'src/shared imports nothing outside src/shared.'),
  zone('./src/engine', './src/vscode', 'The engine never imports a host.'),
  zone('./src/engine', './src/cli', 'The engine never imports a host.'),
  zone('./src/engine', './src/report', 'The engine never imports a host.'),
  zone('./src/engine', './webview', 'The engine never imports the webview.'),
  zone('./src/engine', './tools', 'The shipped engine never imports development tools.'),
  zone('./src/vscode', './src/engine', 'The VS Code host reaches the engine through src/engine/index.ts only.', ['./index.ts']),
  zone('./src/cli', './src/engine', 'The CLI reaches the engine through src/engine/index.ts only.', ['./index.ts']),
  zone('./src/vscode', './src/cli', 'Hosts do not import each other.'),
  zone('./src/cli', './src/vscode', 'Hosts do not import each other.'),
  zone('./src/vscode', './webview', 'The host talks to the webview through src/shared/protocol.ts only.'),
  zone('./src/cli', './webview', 'The CLI never imports the webview.'),
  zone('./webview', './src', 'The webview imports only webview/ and src/shared/.', ['./shared']),
  zone('./src/report', './src', 'The report host (a browser bundle) imports only src/report/ and src/shared/.', ['./shared', './report']),
  zone('./src', './tools', 'Nothing shipped imports development tools.'),
  zone('./src', './test', 'Nothing shipped imports tests.'),
  zone('./src', './bench', 'Nothing shipped imports benchmarks.'),
];

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', 'build/**', '.artifacts/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts'],
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // tsc (noUnusedLocals) already reports these, with the same meaning.
      '@typescript-eslint/no-unused-vars': 'off',
      // `import ort = require('onnxruntime-web')` is how the CommonJS build is chosen (README, bundling).
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^onnxruntime-', '^onnx-proto$'] }],
      'import-x/no-restricted-paths': ['error', { zones: boundaries }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
    },
  },
  {
    files: ['src/**/*.ts', 'webview/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 450, skipBlankLines: false, skipComments: false }],
    },
  },
  {
    // `vscode` exists only in the extension host: the VS Code host and the tests that run inside it.
    files: ['src/shared/**/*.ts', 'src/engine/**/*.ts', 'src/cli/**/*.ts', 'src/report/**/*.ts', 'webview/**/*.ts', 'tools/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/vscode/ may import vscode.' }] }],
    },
  },
  {
    // src/shared runs in the browser too: no Node built-ins there.
    files: ['src/shared/**/*.ts', 'webview/**/*.ts', 'src/report/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'Browser code: no Node built-ins.' }], paths: [{ name: 'vscode', message: 'Only src/vscode/ may import vscode.' }] }],
    },
  },
);

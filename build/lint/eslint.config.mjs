// ESLint for the JavaScript the library embeds. Run from the repository root through build/lint.sh
// (`--config build/lint/eslint.config.mjs`), so the paths below are relative to the root.
import js from '@eslint/js';

export default [
  js.configs.recommended,
  {
    // Bootstrap.js is evaluated by V8 (ClearScript) as one expression, `(function (assets, entropy,
    // config) {...})`: a classic script, not a module, in a bare isolate.
    files: ['src/PyodideEmbedded/**/*.js'],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'script',
      // ecmaVersion 'latest' already declares the language's own globals (globalThis, SharedArrayBuffer,
      // Atomics, FinalizationRegistry, WeakRef, ...). A bare V8 isolate adds only WebAssembly: no
      // browser or Node globals (console, setTimeout, TextEncoder, process) exist there unless the
      // bootstrap defines them on globalThis itself, so none are declared here and using one is an error.
      globals: {
        WebAssembly: 'readonly',
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
  },
];

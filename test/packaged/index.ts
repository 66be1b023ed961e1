/**
 * Entry of the installed-.vsix check (test/runner/packaged.ts): the same `run()` as the
 * extension-host suite, loading the compiled `*.test.js` beside it (out/test/packaged).
 */
export { run } from '../integration/index';

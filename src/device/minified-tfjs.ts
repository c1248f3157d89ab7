/**
 * A session thread loads TF.js core and layers from the minified builds their packages publish, in place of
 * their `main` builds. V8 keeps every script's source text for as long as its functions may still be
 * compiled, in every isolate: core's and layers' main builds are 2.7 MB of text with a few non-ASCII
 * characters each, so V8 stores them two bytes per character (5.3 MiB per thread); the minified ES5 builds
 * are 0.7 MB of ASCII. Measured: 23.3 → 20.3 MiB of RSS per thread that loads TF.js with the wasm backend and
 * runs a layer (eight threads against one, twice each). The API and the kernels are the same code; only
 * stack traces inside TF.js lose their names.
 *
 * Both builds are CommonJS. Seeding `require.cache` under the main build's path makes every later load of
 * the package in this thread — `import` from our modules, `require` from the backends, layers and the
 * converter — get the one minified instance. The ES5 build is the one to use: the wasm and cpu backends are
 * ES5 classes, which cannot extend the ES2017 build's classes.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** In load order: layers requires core. */
const kMinifiedBuilds = [
  ['@tensorflow/tfjs-core', 'dist/tf-core.min.js'],
  ['@tensorflow/tfjs-layers', 'dist/tf-layers.min.js'],
] as const;

/**
 * Makes this thread's later loads of TF.js core and layers use their minified builds. Call it before anything
 * in the thread has loaded either: a package already loaded stays as it is, since a second instance of core
 * would have a kernel registry and engine of its own.
 */
export function preferMinifiedTfjs(): void {
  for (const [pkg, file] of kMinifiedBuilds) {
    const main = require.resolve(pkg);
    if (require.cache[main]) continue;
    let minified: string;
    try {
      minified = require.resolve(`${pkg}/${file}`);
    } catch {
      // A release that does not ship the build: the main one serves, at its memory cost.
      continue;
    }
    require(minified);
    require.cache[main] = require.cache[minified];
  }
}

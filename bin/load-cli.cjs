'use strict';
/**
 * Loads the built CLI, dist/kpfleet.cjs (one CommonJS file, scripts/build-bundle.ts), with V8's
 * code cache (issue 20, "a fast start"): the compiled code of a run is kept in
 * dist/kpfleet.cjs.cache and the next run starts from it instead of compiling the bundle again.
 * Works the same on Node 20, 22 and 24 (vm.Script's cachedData; no module.enableCompileCache).
 *
 * A cache is code that runs, so it is used only when it cannot be anyone else's: a regular file
 * owned by the bundle's owner, writable by no one who cannot write the bundle, made for this very
 * bundle on this Node (its first line says which). Only the bundle's owner writes it, once a run
 * ends, to a new file renamed into place. A cache V8 refuses (another V8, other flags), or any
 * error reading or writing one, just means compiling as without it.
 */
const fs = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');

const MAGIC = Buffer.from('kpfleet-code-cache-1\n');

/**
 * What a cache must be made for: this bundle file, as last written (its change time, which no
 * one can set, and its size), this Node, this machine's architecture.
 */
function cacheKey(st) {
  const key = [process.version, process.arch, st.dev, st.ino, st.size, st.ctimeMs, st.mtimeMs];
  return Buffer.from(`${key.join(' ')}\n`);
}

/** The cache's code, or undefined when there is none that may be trusted for this bundle. */
function readCache(cacheFile, bundleStat, key) {
  let fd;
  try {
    fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== bundleStat.uid) return undefined;
    // group or others may write it while they may not write the bundle: not the owner's code
    if ((st.mode & 0o022 & ~bundleStat.mode) !== 0) return undefined;
    const data = fs.readFileSync(fd);
    const head = MAGIC.length + key.length;
    if (data.length <= head || !data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    if (!data.subarray(MAGIC.length, head).equals(key)) return undefined;
    return data.subarray(head);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes the cache next to the bundle, whole or not at all; any failure leaves none. */
function writeCache(cacheFile, key, code) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, key, code]), { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, cacheFile);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // there was none
    }
  }
}

/** The exports of the bundle at `file` (an absolute path), run as CommonJS runs it. */
function loadCli(file) {
  const fd = fs.openSync(file, 'r');
  const bundleStat = fs.fstatSync(fd);
  const source = fs.readFileSync(fd, 'utf8');
  fs.closeSync(fd);
  const cacheFile = `${file}.cache`;
  const key = cacheKey(bundleStat);
  const cachedData = readCache(cacheFile, bundleStat, key);
  // on one line with the bundle's first: its line numbers stay those of stack traces
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const owner = typeof process.getuid === 'function' && process.getuid() === bundleStat.uid;
  if (owner && (cachedData === undefined || script.cachedDataRejected === true)) {
    // at the end: the cache then holds the functions this run compiled, not the outer code only
    process.once('exit', () => writeCache(cacheFile, key, script.createCachedData()));
  }
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  module.loaded = true;
  return module.exports;
}

module.exports = { loadCli };

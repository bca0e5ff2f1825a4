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
 *
 * A cache holds the code its runs compiled, and V8 compiles a function only when it first runs: a
 * cache made by `kpfleet --version` alone would leave `validate` compiling its code at every run
 * (13 ms of CPU more). So the cache names the kinds of run it was made from (the command), and a
 * run of another kind writes it again, with its own code added to what the cache held: once per
 * command, and never more than MAX_RUNS times for one bundle.
 */
const fs = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');

const MAGIC = Buffer.from('kpfleet-code-cache-2\n');
/** The most kinds of run one cache names: past that, a cache is no longer written again. */
const MAX_RUNS = 32;
/** A kind of run as a cache names it: a word (a command), or nothing. */
const RUN = /^[A-Za-z0-9-]{0,32}$/;

/**
 * What a cache must be made for: this bundle file, as last written (its change time, which no
 * one can set, and its size), this Node, this machine's architecture.
 */
function cacheKey(st) {
  const key = [process.version, process.arch, st.dev, st.ino, st.size, st.ctimeMs, st.mtimeMs];
  return Buffer.from(`${key.join(' ')}\n`);
}

/**
 * The cache's code and the kinds of run it was made from (its third line, the runs' words with a
 * space after each), or undefined when there is none that may be trusted for this bundle.
 */
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
    const end = data.indexOf(10, head);
    if (end < 0 || end - head > MAX_RUNS * 33) return undefined;
    const runs = data.toString('latin1', head, end).split(' ').slice(0, -1);
    if (runs.length > MAX_RUNS || !runs.every((r) => RUN.test(r))) return undefined;
    return { code: data.subarray(end + 1), runs };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes the cache next to the bundle, whole or not at all; any failure leaves none. */
function writeCache(cacheFile, key, runs, code) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  const names = Buffer.from(`${runs.map((r) => `${r} `).join('')}\n`, 'latin1');
  try {
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, key, names, code]), { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, cacheFile);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // there was none
    }
  }
}

/**
 * The exports of the bundle at `file` (an absolute path), run as CommonJS runs it. `run` names
 * the kind of run (a word: the command), for the cache to know what code it holds.
 */
function loadCli(file, run = '') {
  const fd = fs.openSync(file, 'r');
  const bundleStat = fs.fstatSync(fd);
  const source = fs.readFileSync(fd, 'utf8');
  fs.closeSync(fd);
  const cacheFile = `${file}.cache`;
  const key = cacheKey(bundleStat);
  const cached = readCache(cacheFile, bundleStat, key);
  const cachedData = cached?.code;
  // on one line with the bundle's first: its line numbers stay those of stack traces
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const owner = typeof process.getuid === 'function' && process.getuid() === bundleStat.uid;
  const kind = RUN.test(run) ? run : '';
  const fresh = cached === undefined || script.cachedDataRejected === true;
  const runs = fresh ? [] : cached.runs;
  if (owner && (fresh || (!runs.includes(kind) && runs.length < MAX_RUNS))) {
    // at the end: the cache then holds the functions this run compiled (and those the cache
    // held, compiled from it), not the outer code only
    process.once('exit', () =>
      writeCache(cacheFile, key, [...runs, kind], script.createCachedData()),
    );
  }
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  module.loaded = true;
  return module.exports;
}

/**
 * How much a function must run before V8 optimises it (its `--interrupt-budget`, in bytes of
 * bytecode run): 1 MB, against V8's default of 66–144 KB (by version). A kpfleet run lasts
 * seconds, and with V8's default its optimising compiler took a quarter of the CPU of a plan over
 * 1,000 hosts (0.5 s of 2.1 s, on V8's worker threads) compiling code that then ran for about a
 * second. Code that stays hot still gets optimised, later (docs/benchmarks.md).
 */
const INTERRUPT_BUDGET = 1024 * 1024;

/**
 * Sets V8's tier-up budget for a short run, before any of kpfleet's code runs; not when the user
 * gave one on node's command line (Node refuses it in NODE_OPTIONS). The flag is V8's and has the
 * same name and meaning in the V8 of every Node that kpfleet supports (20, 22, 24).
 */
function tierUpLater(
  execArgv = process.execArgv,
  set = (flag) => require('node:v8').setFlagsFromString(flag),
) {
  if (execArgv.some((a) => /^--interrupt[-_]budget(=|$)/.test(a))) return false;
  set(`--interrupt-budget=${INTERRUPT_BUDGET}`);
  return true;
}

module.exports = { loadCli, tierUpLater, INTERRUPT_BUDGET };

#!/usr/bin/env node
/**
 * Applies the patches listed in patches/patches.json to kpfleet's own copies of its dependencies
 * (patches/README.md). Run by npm as `postinstall`; dependency-free, so nothing else runs as root
 * at install time.
 *
 * For each patched package, every file it touches is identified by its sha256:
 * - the released file (`before`): the patch is applied, and the result must hash to `after`;
 * - already patched (`after`): nothing to do (running twice is harmless);
 * - anything else: an error that names the file, and the install fails.
 * A new file is written beside the old one and renamed over it.
 *
 * A package that is not kpfleet's own (npm hoisted it into a project that installed kpfleet as a
 * dependency, where other packages share it) is left alone with a notice: kpfleet works with the
 * released code, only its key exchange costs more CPU.
 *
 *   node patches/apply.js           apply (postinstall)
 *   node patches/apply.js --check   exit 0 when every file is patched, 1 with the reasons if not
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/**
 * The hunks of a unified diff, by file (paths after `+++ b/`). Only what `diff -u` writes:
 * `@@ -a,b +c,d @@` hunks of ' ', '-' and '+' lines, files ending in a newline.
 */
export function parseUnifiedDiff(text) {
  const files = new Map();
  let hunks;
  let hunk;
  for (const line of text.split('\n')) {
    if (line.startsWith('--- ')) continue;
    if (line.startsWith('+++ ')) {
      hunks = [];
      files.set(line.slice(4).replace(/^b\//, '').replace(/\t.*$/, ''), hunks);
      hunk = undefined;
      continue;
    }
    const head = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (head) {
      if (!hunks) throw new Error('a hunk before any file header');
      hunk = { oldStart: Number(head[1]), newStart: Number(head[3]), old: [], new: [] };
      hunks.push(hunk);
      continue;
    }
    if (line === '' || !hunk) continue;
    const body = line.slice(1);
    if (line[0] === ' ') {
      hunk.old.push(body);
      hunk.new.push(body);
    } else if (line[0] === '-') hunk.old.push(body);
    else if (line[0] === '+') hunk.new.push(body);
    else if (line[0] === '\\') throw new Error('files without a final newline are not supported');
    else throw new Error(`not a unified diff line: ${JSON.stringify(line.slice(0, 40))}`);
  }
  return files;
}

/** `text` with `hunks` applied where they say, every old line matching exactly (no fuzz). */
export function applyHunks(text, hunks) {
  const lines = text.split('\n');
  const out = [];
  let at = 0; // next line of `lines` to copy
  for (const h of hunks) {
    const start = h.old.length === 0 ? h.oldStart : h.oldStart - 1;
    if (start < at) throw new Error('hunks overlap or are out of order');
    for (let i = 0; i < h.old.length; i++) {
      if (lines[start + i] !== h.old[i]) {
        throw new Error(`line ${String(start + i + 1)} is not what the patch expects`);
      }
    }
    for (let i = at; i < start; i++) out.push(lines[i]);
    for (const l of h.new) out.push(l);
    at = start + h.old.length;
  }
  for (let i = at; i < lines.length; i++) out.push(lines[i]);
  return out.join('\n');
}

/** Where `name` is installed for kpfleet, and whether that copy is kpfleet's alone. */
function locate(name) {
  const own = join(ROOT, 'node_modules', name);
  if (existsSync(join(own, 'package.json'))) return { dir: own, own: true };
  // npm hoists dependencies to the top of the installing project's tree: look upwards
  for (let dir = dirname(ROOT); ; dir = dirname(dir)) {
    const shared = join(dir, 'node_modules', name);
    if (existsSync(join(shared, 'package.json'))) return { dir: shared, own: false };
    if (dirname(dir) === dir) return undefined;
  }
}

/** What to do for one package: a list of problems, or the files to write. */
function plan(name, entry) {
  const where = locate(name);
  if (!where) return { problems: [`${name} is not installed`] };
  if (!where.own) return { notice: `${name} at ${where.dir} is shared with other packages` };
  const { version } = JSON.parse(readFileSync(join(where.dir, 'package.json'), 'utf8'));
  if (version !== entry.version) {
    return {
      problems: [
        `${name} is ${String(version)}, but ${entry.patch} is for ${entry.version}: update the patch (patches/README.md)`,
      ],
    };
  }
  const diff = parseUnifiedDiff(readFileSync(join(HERE, entry.patch), 'utf8'));
  const problems = [];
  const writes = [];
  for (const [file, hashes] of Object.entries(entry.files)) {
    const path = join(where.dir, file);
    const text = readFileSync(path, 'utf8');
    const now = sha256(text);
    if (now === hashes.after) continue;
    if (now !== hashes.before) {
      problems.push(`${path} is neither ${name} ${entry.version}'s file nor the patched one`);
      continue;
    }
    const hunks = diff.get(file);
    if (!hunks) {
      problems.push(`${entry.patch} has no hunks for ${file}`);
      continue;
    }
    const patched = applyHunks(text, hunks);
    if (sha256(patched) !== hashes.after) {
      problems.push(`${entry.patch} applied to ${file} does not give the expected file`);
      continue;
    }
    writes.push({ path, text: patched });
  }
  return { problems, writes };
}

function main() {
  const check = process.argv.includes('--check');
  const manifest = JSON.parse(readFileSync(join(HERE, 'patches.json'), 'utf8'));
  const problems = [];
  for (const [name, entry] of Object.entries(manifest)) {
    const p = plan(name, entry);
    if (p.notice) {
      process.stderr.write(
        `kpfleet: not patching ${p.notice}; kpfleet works with it unpatched, with more CPU per SSH handshake (patches/README.md)\n`,
      );
      if (check) problems.push(`${p.notice}: not patched`);
      continue;
    }
    problems.push(...(p.problems ?? []));
    if (check) {
      for (const w of p.writes ?? []) problems.push(`${w.path} is not patched`);
      continue;
    }
    if ((p.problems ?? []).length > 0) continue;
    for (const w of p.writes ?? []) {
      const tmp = `${w.path}.kpfleet-patch-${String(process.pid)}`;
      writeFileSync(tmp, w.text);
      renameSync(tmp, w.path);
    }
    if ((p.writes ?? []).length > 0)
      process.stderr.write(`kpfleet: patched ${name} (${entry.patch})\n`);
  }
  for (const m of problems) process.stderr.write(`kpfleet: ${m}\n`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();

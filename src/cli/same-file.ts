/**
 * Two files of one run must be two files (docs/exit-codes.md, "Files kpfleet writes"): a
 * `--report` or `--out` renamed over the audit log would erase its history, over the saved plan
 * being applied the plan that was reviewed; the audit log appended to the plan file would spoil
 * it. Checked after the preflight of each destination, before any host is contacted: the same
 * file by name, through a symlink or a hard link is a UsageError (exit 64).
 */
import { lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';

/** A file of the run: what messages call it, and its path. */
export interface RunFile {
  /** `--report r.json`, `the audit log /home/ops/.local/state/kpfleet/audit.jsonl`. */
  label: string;
  path: string;
}

const MAX_SYMLINKS = 40;

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Who a path is: its device and inode when it exists (a symlink or a hard link to the same file
 * is the same file); else where it would be created: the symlinks at its end followed, in its
 * folder's real path (a file not there yet, named through another folder or a dangling link).
 */
function fileIdentity(path: string): string {
  let p = resolve(path);
  for (let hops = 0; hops < MAX_SYMLINKS; hops++) {
    try {
      const st = statSync(p);
      return `inode ${String(st.dev)}:${String(st.ino)}`;
    } catch {
      // not there (or not readable): where would it be created?
    }
    if (!isSymlink(p)) break;
    p = resolve(dirname(p), readlinkSync(p));
  }
  try {
    return `path ${join(realpathSync(dirname(p)), basename(p))}`;
  } catch {
    return `path ${p}`;
  }
}

/**
 * Refuses the first file of `files` (in order) that is the same file as an earlier one, naming
 * both: `cannot write --report r.json: it is the same file as the audit log …`.
 */
export function refuseSameFiles(files: readonly RunFile[]): void {
  const seen: { file: RunFile; id: string }[] = [];
  for (const file of files) {
    const id = fileIdentity(file.path);
    const earlier = seen.find((s) => s.id === id);
    if (earlier !== undefined) {
      throw new UsageError(
        `cannot write ${file.label}: it is the same file as ${earlier.file.label}`,
        {
          hint: 'the report and a saved plan are replaced whole and the audit log is appended to: give each a file of its own',
        },
      );
    }
    seen.push({ file, id });
  }
}

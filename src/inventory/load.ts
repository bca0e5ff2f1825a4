/**
 * Loading an inventory from disk as ansible-core 2.14 does: a file, or a directory of files
 * (each parsed into the one inventory, in Ansible's order, what Ansible ignores skipped), then
 * group_vars/ and host_vars/ beside a file or inside a directory (vars-files.ts). The only
 * module of the inventory, with vars-files.ts, that touches the file system.
 */
import {
  accessSync,
  constants,
  readdirSync,
  readSync,
  openSync,
  closeSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Diagnostic } from '../diagnostics.ts';
import { sortDiagnostics } from '../diagnostics.ts';
import { pushAll } from '../util/arrays.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { InventoryBuilder, newSharedInventory, type SharedInventory } from './builder.ts';
import { parseInventory, type ParsedInventory, type ParseOptions } from './parse.ts';
import { SourceText } from '../util/source.ts';
import { applyVarsFiles, dirId, type VarsBase } from './vars-files.ts';
import { outsideProject, type InProjectTest } from './confine.ts';
import { isVaulted } from './vault.ts';
import { openVault, type VaultKey } from './vault-yaml.ts';
import { markSecret } from '../util/secrets.ts';

export interface LoadInventoryOptions {
  /** The vault password for vaulted vars files and `!vault` values. */
  vault?: VaultKey;
  /**
   * Given when the inventory is inside the project: whether one of its files or folders really
   * is (confine.ts). One that is not is refused, unread.
   */
  inProject?: InProjectTest;
}

/**
 * What Ansible skips in an inventory directory: hidden names, its vars folders, and the default
 * INVENTORY_IGNORE_EXTS (REJECT_EXTS plus .orig, .ini, .cfg, .retry). `.ini` is among them: in
 * a directory, Ansible reads an INI inventory only if its name has no such extension.
 */
const IGNORED_NAMES = /^\.|^host_vars$|^group_vars$|^vars_plugins$/;
const IGNORED_EXTS = [
  ...['.pyc', '.pyo', '.swp', '.bak', '~', '.rpm', '.md', '.txt', '.rst'],
  ...['.orig', '.ini', '.cfg', '.retry'],
];

export function ignoredInInventoryDir(name: string): boolean {
  return IGNORED_NAMES.test(name) || IGNORED_EXTS.some((ext) => name.endsWith(ext));
}

/** Python's sorted(os.listdir()) on bytes: by UTF-8 bytes, not UTF-16 units. */
function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Every file an inventory directory holds, in the order Ansible parses them (depth first). A
 * subdirectory that is one of its own ancestors (a symlink such as `a -> .`) is not entered
 * again, and named in `loops`: two such links would otherwise make 2^40 paths before ELOOP. One
 * that `refused` refuses (it says why) is not entered either.
 */
function directoryFiles(
  dir: string,
  display: string,
  loops: string[],
  refused: (path: string, display: string) => boolean,
  ancestors: ReadonlySet<string> = new Set([dirId(dir)]),
): { path: string; display: string }[] {
  const out: { path: string; display: string }[] = [];
  for (const name of sortedNames(dir)) {
    if (ignoredInInventoryDir(name)) continue;
    const path = join(dir, name);
    const shown = join(display, name);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // a dangling link: reported when read
    }
    if (!isDir) {
      out.push({ path, display: shown });
      continue;
    }
    const id = dirId(path);
    if (ancestors.has(id)) loops.push(shown);
    else if (!refused(path, shown))
      pushAll(out, directoryFiles(path, shown, loops, refused, new Set([...ancestors, id])));
  }
  return out;
}

/** An inventory script as Ansible's script plugin takes it: executable, or starting with `#!`. */
function isScript(path: string): boolean {
  // only a regular file is a script; anything else is refused when read, never opened here
  // (opening a FIFO waits for a writer)
  try {
    if (!statSync(path).isFile()) return false;
  } catch {
    return false;
  }
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    // not executable: look for a shebang
  }
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const head = Buffer.alloc(2);
      return readSync(fd, head, 0, 2, 0) === 2 && head.toString('latin1') === '#!';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function errnoReason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  return e instanceof Error ? e.message : String(e);
}

function unreadable(display: string, e: unknown): Diagnostic {
  return {
    severity: 'error',
    code: 'inventory/unreadable',
    message: `cannot read inventory: ${errnoReason(e)}`,
    file: display,
  };
}

function skipped(display: string, why: string, hint: string): Diagnostic {
  return {
    severity: 'warning',
    code: 'inventory/dir-skipped',
    message: `not read as part of the inventory directory: ${why}`,
    file: display,
    hint,
  };
}

/**
 * One file of an inventory directory, parsed into the shared inventory. Scripts and inventory
 * plugin configurations (which Ansible would run or hand to a plugin) are skipped with a
 * warning; a file that is an inventory but has errors stays an error (kpfleet does not patch a
 * fleet from half an inventory, where Ansible warns and goes on). Returns whether it was parsed.
 */
function loadDirectoryFile(
  file: { path: string; display: string },
  shared: SharedInventory,
  options: LoadInventoryOptions,
  diagnostics: Diagnostic[],
): boolean {
  const outside = outsideProject(file.path, file.display, options.inProject);
  if (outside) {
    diagnostics.push(outside);
    return false;
  }
  if (isScript(file.path)) {
    diagnostics.push(
      skipped(
        file.display,
        'it is executable or starts with #!, an inventory script, and kpfleet runs none',
        'write its output to a file in the directory: `ansible-inventory -i SCRIPT --list -y`, or clear its executable bit if it is a plain inventory',
      ),
    );
    return false;
  }
  const parsed = readInventoryFile(file.path, file.display, { ...options, shared });
  const plugin = parsed.diagnostics.find((d) => d.code === 'inventory/plugin-config');
  if (plugin) {
    diagnostics.push(
      skipped(
        file.display,
        'it configures an inventory plugin, which kpfleet does not run',
        'dynamic inventories are not supported: export one with `ansible-inventory -i SRC --list -y` into the directory',
      ),
    );
    pushAll(
      diagnostics,
      parsed.diagnostics.filter((d) => d !== plugin),
    );
    return false;
  }
  pushAll(diagnostics, parsed.diagnostics);
  return true;
}

function loadDirectory(
  dir: string,
  display: string,
  options: LoadInventoryOptions,
): ParsedInventory {
  const shared = newSharedInventory(display);
  const diagnostics: Diagnostic[] = [];
  let parsedAny = false;
  const loops: string[] = [];
  const refused = (path: string, shown: string): boolean => {
    const outside = outsideProject(path, shown, options.inProject);
    if (outside) diagnostics.push(outside);
    return outside !== undefined;
  };
  for (const file of directoryFiles(dir, display, loops, refused)) {
    if (loadDirectoryFile(file, shared, options, diagnostics)) parsedAny = true;
  }
  for (const loop of loops) {
    diagnostics.push(
      skipped(
        loop,
        'it is a link to a folder that holds it, which would be read without end',
        'remove the link',
      ),
    );
  }
  const builder = new InventoryBuilder(new SourceText(display, ''), shared);
  const inventory = builder.reconcile();
  pushAll(diagnostics, builder.diagnostics);
  if (!parsedAny) {
    diagnostics.push({
      severity: 'error',
      code: 'inventory/empty-dir',
      message: 'the inventory directory holds no inventory file kpfleet can read',
      file: display,
      hint: 'Ansible skips hidden files, group_vars/, host_vars/ and names ending in .ini, .cfg, .md, .txt, ~ and the like: name an INI inventory without an extension (e.g. `hosts`), a YAML one .yml',
    });
  }
  return { inventory, diagnostics };
}

/**
 * Reads and parses one inventory file; an unreadable one is an error diagnostic. An inventory
 * file encrypted whole with ansible-vault is decrypted first, as Ansible's loader does; then
 * every variable it sets is a secret, and its diagnostics quote none of its lines.
 */
function readInventoryFile(path: string, display: string, options: ParseOptions): ParsedInventory {
  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (e) {
    const result = parseInventory(display, '', options);
    result.diagnostics.push(unreadable(display, e));
    return result;
  }
  if (!isVaulted(text)) return parseInventory(display, text, options);
  const src = new SourceText(display, text);
  const opened: Diagnostic[] = [];
  const plain = openVault(
    text,
    options.vault,
    src,
    { line: 1, col: 1 },
    'this inventory file',
    opened,
  );
  if (plain === undefined) {
    const result = parseInventory(display, '', options);
    pushAll(result.diagnostics, opened);
    return result;
  }
  const result = parseInventory(display, plain, options);
  hideVaultedFile(result, display);
  return result;
}

/** After a vaulted file: its vars marked secret and placed at its header, its lines not quoted. */
function hideVaultedFile(result: ParsedInventory, display: string): void {
  for (const d of result.diagnostics) {
    if (d.file !== display) continue;
    if (d.pos) d.message += ` (line ${d.pos.line} of the decrypted text)`;
    delete d.pos;
    delete d.lineText;
  }
  const { hosts, groups } = result.inventory;
  for (const entity of [...hosts.values(), ...groups.values()]) {
    for (const [k, site] of Object.entries(entity.varSites ?? {})) {
      if (site.file !== display) continue;
      markSecret(entity.vars[k]);
      site.line = 1;
      site.col = 1;
    }
  }
}

/**
 * Reads and parses an inventory file or directory (`displayFile` is how diagnostics name it;
 * default `path`), then merges group_vars/ and host_vars/: beside a file, inside a directory.
 * Never throws for bad input.
 */
export function loadInventory(
  path: string,
  displayFile: string = path,
  options: LoadInventoryOptions = {},
): ParsedInventory {
  const outside = outsideProject(path, displayFile, options.inProject);
  if (outside) {
    const empty = parseInventory(displayFile, '', options);
    empty.diagnostics.push(outside);
    return empty;
  }
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // reported as unreadable by readInventoryFile
  }
  const result = isDir
    ? loadDirectory(path, displayFile, options)
    : readInventoryFile(path, displayFile, options);
  const base: VarsBase = isDir
    ? { dir: path, display: displayFile }
    : { dir: dirname(path), display: dirname(displayFile) };
  applyVarsFiles(result.inventory, [base], options, result.diagnostics);
  return { inventory: result.inventory, diagnostics: sortDiagnostics(result.diagnostics) };
}

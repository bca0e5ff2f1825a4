/**
 * group_vars/ and host_vars/ beside an inventory, found and merged as Ansible's host_group_vars
 * plugin does; vars files encrypted with Ansible Vault, or holding `!vault` values, decrypted.
 * Reads files; never throws for bad input.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import { pushAll } from '../util/arrays.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { markSecret } from '../util/secrets.ts';
import { SourceText } from '../util/source.ts';
import type { Inventory, InventoryGroup, InventoryHost, VarSites } from './types.ts';
import { isVaulted } from './vault.ts';
import { outsideProject, type InProjectTest } from './confine.ts';
import { openInlineVaults, openVault, type VaultKey } from './vault-yaml.ts';
import { pyJsonKey, toPlain } from './yaml-inventory.ts';
import { parseYaml11, yamlErrorDiagnostic } from './yaml11.ts';

/** Ansible's YAML_FILENAME_EXTENSIONS, tried after the bare name. */
const VARS_EXTENSIONS = ['', '.yml', '.yaml', '.json'];

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Python's os.path.splitext(name)[1]: the extension, leading dots of the name not counting. */
function splitext(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || /^\.+$/.test(name.slice(0, dot + 1))) return '';
  return name.slice(dot);
}

/** A directory's identity (device and inode), to know it again through a symlink; else its path. */
export function dirId(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    return `${String(st.dev)}:${String(st.ino)}`;
  } catch {
    return path;
  }
}

/** Whether a path must not be read (after saying why, once). */
type Refused = (path: string) => boolean;

/**
 * The vars files under a `group_vars/<name>/` folder, sorted, depth first. A folder that is one
 * of its own ancestors (a symlink such as `a -> .`) is not entered again: two such links would
 * otherwise make 2^40 paths before the kernel's ELOOP. What `refused` refuses is left out.
 */
function dirVarsFiles(
  dir: string,
  refused: Refused,
  ancestors: ReadonlySet<string> = new Set([dirId(dir)]),
): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const ext = splitext(name);
    const full = join(dir, name);
    const st = stat(full);
    if (st?.isDirectory() && ext === '') {
      const id = dirId(full);
      if (!ancestors.has(id) && !refused(full))
        pushAll(out, dirVarsFiles(full, refused, new Set([...ancestors, id])));
    } else if (st?.isFile() && VARS_EXTENSIONS.includes(ext) && !refused(full)) out.push(full);
  }
  return out;
}

/** `DataLoader.find_vars_files`: `<name>`, `<name>.yml`, … — the first that exists, file or dir. */
function findVarsFiles(dir: string, name: string, refused: Refused): string[] {
  for (const ext of VARS_EXTENSIONS) {
    const full = join(dir, name + ext);
    const st = stat(full);
    if (!st) continue;
    if (refused(full)) return [];
    return st.isDirectory() ? dirVarsFiles(full, refused) : [full];
  }
  return [];
}

interface VarsFile {
  vars: Record<string, unknown>;
  /** Where each top-level variable was written. */
  sites: VarSites;
}

/** Where each top-level key of a vars file's mapping is (what diagnostics about a value point at). */
function topLevelSites(src: SourceText, contents: unknown): VarSites {
  const sites: VarSites = {};
  if (!isMap(contents)) return sites;
  for (const pair of contents.items) {
    const key: unknown = pair.key;
    if (!isScalar(key) || key.range === undefined || key.range === null) continue;
    const pos = src.position(key.range[0]);
    sites[pyJsonKey(key.value)] = { file: src.file, line: pos.line, col: pos.col };
  }
  return sites;
}

function loadVarsFile(
  path: string,
  display: string,
  vault: VaultKey | undefined,
  diagnostics: Diagnostic[],
): VarsFile {
  const none: VarsFile = { vars: {}, sites: {} };
  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (e) {
    diagnostics.push({
      severity: 'error',
      code: 'inventory/unreadable',
      message: `cannot read vars file: ${e instanceof Error ? e.message : String(e)}`,
      file: display,
    });
    return none;
  }
  let src = new SourceText(display, text.replace(/^\uFEFF/, ''));
  const vaulted = isVaulted(src.text);
  if (vaulted) {
    const plain = openVault(
      src.text,
      vault,
      src,
      { line: 1, col: 1 },
      'this vars file',
      diagnostics,
    );
    if (plain === undefined) return none;
    src = new SourceText(display, plain);
  }
  const mark = diagnostics.length;
  const result = parseVars(src, vault, diagnostics);
  if (vaulted) {
    // A decrypted file's lines are secret: its diagnostics name the file and the line, no text.
    for (const d of diagnostics.slice(mark)) {
      if (d.pos) d.message += ` (line ${d.pos.line} of the decrypted text)`;
      delete d.pos;
      delete d.lineText;
    }
    markSecret(result.vars);
    // Diagnostics about its values point at the file's header, not at a line of plaintext.
    for (const k of Object.keys(result.sites)) result.sites[k] = { file: display, line: 1, col: 1 };
  }
  return result;
}

function parseVars(
  src: SourceText,
  vault: VaultKey | undefined,
  diagnostics: Diagnostic[],
): VarsFile {
  const none: VarsFile = { vars: {}, sites: {} };
  const { doc } = parseYaml11(src.text);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) diagnostics.push(yamlErrorDiagnostic(src, e));
    return none;
  }
  openInlineVaults(doc, src, vault, diagnostics);
  let data: unknown;
  try {
    data = toPlain(doc.toJS({ mapAsMap: true, maxAliasCount: 100 }));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    diagnostics.push(
      src.diagnostic('error', 'inventory/yaml-syntax', message, { line: 1, col: 1 }),
    );
    return none;
  }
  if (data === null || data === undefined || data === '' || data === false || data === 0)
    return none;
  if (typeof data !== 'object' || Array.isArray(data)) {
    diagnostics.push(
      src.diagnostic(
        'error',
        'inventory/vars-structure',
        'a vars file must hold a mapping of variable names to values',
        doc.contents?.range[0] ?? 0,
      ),
    );
    return none;
  }
  return { vars: data as Record<string, unknown>, sites: topLevelSites(src, doc.contents) };
}

/** Where group_vars/ and host_vars/ are looked for: a folder, and how diagnostics name it. */
export interface VarsBase {
  dir: string;
  display: string;
}

/** How vars files are read: with the vault password; in the project only (confine.ts). */
export interface VarsOptions {
  vault?: VaultKey;
  inProject?: InProjectTest;
}

/**
 * Whether a vars file or folder must not be read: one that really lies outside the project,
 * while the inventory is in it. Each is reported once (by path), at `display(path)`.
 */
function refusalOf(
  inProject: InProjectTest | undefined,
  diagnostics: Diagnostic[],
  reported: Set<string>,
): (path: string, display: string) => boolean {
  return (path, display) => {
    if (reported.has(path)) return true;
    const outside = outsideProject(path, display, inProject);
    if (!outside) return false;
    reported.add(path);
    diagnostics.push(outside);
    return true;
  };
}

/**
 * The vars files of one group or host, merged in order over the bases that have a `sub` folder
 * (which the caller looked for once, not once per host), with their sites.
 */
function entityFiles(
  entity: InventoryGroup | InventoryHost,
  sub: 'group_vars' | 'host_vars',
  bases: readonly VarsBase[],
  vault: VaultKey | undefined,
  diagnostics: Diagnostic[],
  refusal: (path: string, display: string) => boolean,
): VarsFile | undefined {
  if (entity.name.startsWith('/')) return undefined;
  let found = false;
  const merged: Record<string, unknown> = {};
  const sites: VarSites = {};
  for (const base of bases) {
    const varsDir = join(base.dir, sub);
    const shown = (f: string): string => join(base.display, sub, f.slice(varsDir.length + 1));
    if (refusal(varsDir, join(base.display, sub))) continue;
    const files = findVarsFiles(varsDir, entity.name, (f) => refusal(f, shown(f)));
    for (const f of files) {
      found = true;
      const display = shown(f);
      const loaded = loadVarsFile(f, display, vault, diagnostics);
      Object.assign(merged, loaded.vars);
      for (const k of Object.keys(loaded.vars)) {
        const site = loaded.sites[k];
        if (site) sites[k] = site;
        else Reflect.deleteProperty(sites, k);
      }
    }
  }
  return found ? { vars: merged, sites } : undefined;
}

function applyFiles(entity: InventoryGroup | InventoryHost, files: VarsFile): void {
  const { vars: merged, sites } = files;
  const inventorySites = entity.varSites ?? {};
  entity.layers = { inventory: entity.vars, files: merged, inventorySites, fileSites: sites };
  entity.vars = { ...entity.vars, ...merged };
  entity.varSites = { ...inventorySites, ...sites };
  for (const k of Object.keys(merged)) {
    if (!sites[k]) Reflect.deleteProperty(entity.varSites, k);
  }
}

/** A `group_vars` or `host_vars` that exists but is not a folder: Ansible warns and skips it. */
function notADirectory(bases: readonly VarsBase[], diagnostics: Diagnostic[]): Set<string> {
  const skipped = new Set<string>();
  for (const base of bases) {
    for (const sub of ['group_vars', 'host_vars']) {
      const st = stat(join(base.dir, sub));
      if (!st || st.isDirectory()) continue;
      skipped.add(join(base.dir, sub));
      diagnostics.push({
        severity: 'warning',
        code: 'inventory/vars-dir',
        message: `found ${sub} that is not a directory, skipping it`,
        file: join(base.display, sub),
      });
    }
  }
  return skipped;
}

/**
 * Ansible's host_group_vars plugin over the inventory's sources: for each group and host, the
 * files for it under `<base>/group_vars/` or `<base>/host_vars/` of every base in order (a file
 * source's folder, a directory source itself), merged as a layer above the inventory's own vars.
 */
export function applyVarsFiles(
  inventory: Inventory,
  bases: readonly VarsBase[],
  options: VarsOptions,
  diagnostics: Diagnostic[],
): void {
  notADirectory(bases, diagnostics);
  const refusal = refusalOf(options.inProject, diagnostics, new Set());
  for (const [sub, entities] of [
    ['group_vars', inventory.groups],
    ['host_vars', inventory.hosts],
  ] as const) {
    const present = bases.filter((b) => stat(join(b.dir, sub)) !== undefined);
    if (present.length === 0) continue;
    for (const entity of entities.values()) {
      const files = entityFiles(entity, sub, present, options.vault, diagnostics, refusal);
      if (files) applyFiles(entity, files);
    }
  }
}

/**
 * Loading an inventory from disk: the file itself, plus the group_vars/ and host_vars/
 * directories beside it, found and merged as Ansible's host_group_vars plugin does. The only
 * module of the inventory that touches the file system.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { isMap, isScalar } from 'yaml';
import { dirname, join } from 'node:path';
import type { Diagnostic } from '../diagnostics.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { SourceText } from '../util/source.ts';
import { parseInventory, type ParsedInventory } from './parse.ts';
import type { InventoryGroup, InventoryHost, VarSites } from './types.ts';
import { pyJsonKey, toPlain } from './yaml-inventory.ts';
import { parseYaml11, yamlErrorDiagnostic } from './yaml11.ts';
import { pushAll } from '../util/arrays.ts';

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

function dirVarsFiles(dir: string): string[] {
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
    if (st?.isDirectory() && ext === '') pushAll(out, dirVarsFiles(full));
    else if (st?.isFile() && VARS_EXTENSIONS.includes(ext)) out.push(full);
  }
  return out;
}

/** `DataLoader.find_vars_files`: `<name>`, `<name>.yml`, … — the first that exists, file or dir. */
function findVarsFiles(dir: string, name: string): string[] {
  for (const ext of VARS_EXTENSIONS) {
    const full = join(dir, name + ext);
    const st = stat(full);
    if (!st) continue;
    return st.isDirectory() ? dirVarsFiles(full) : [full];
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

function loadVarsFile(path: string, display: string, diagnostics: Diagnostic[]): VarsFile {
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
  const src = new SourceText(display, text.replace(/^\uFEFF/, ''));
  if (text.startsWith('$ANSIBLE_VAULT;')) {
    diagnostics.push(
      src.diagnostic('error', 'inventory/vault', 'vault-encrypted vars files are not supported', {
        line: 1,
        col: 1,
      }),
    );
    return none;
  }
  const { doc } = parseYaml11(src.text);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) diagnostics.push(yamlErrorDiagnostic(src, e));
    return none;
  }
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

function applyFiles(
  entity: InventoryGroup | InventoryHost,
  varsDir: string,
  displayDir: string,
  diagnostics: Diagnostic[],
): void {
  if (entity.name.startsWith('/')) return;
  const files = findVarsFiles(varsDir, entity.name);
  if (files.length === 0) return;
  const merged: Record<string, unknown> = {};
  const sites: VarSites = {};
  for (const f of files) {
    const display = join(displayDir, f.slice(varsDir.length + 1));
    const loaded = loadVarsFile(f, display, diagnostics);
    Object.assign(merged, loaded.vars);
    for (const k of Object.keys(loaded.vars)) {
      const site = loaded.sites[k];
      if (site) sites[k] = site;
      else Reflect.deleteProperty(sites, k);
    }
  }
  const inventorySites = entity.varSites ?? {};
  entity.layers = { inventory: entity.vars, files: merged, inventorySites, fileSites: sites };
  entity.vars = { ...entity.vars, ...merged };
  entity.varSites = { ...inventorySites, ...sites };
  for (const k of Object.keys(merged)) {
    if (!sites[k]) Reflect.deleteProperty(entity.varSites, k);
  }
}

/**
 * Reads and parses an inventory file (`displayFile` is how diagnostics name it; default `path`),
 * then merges group_vars/ and host_vars/ from its directory. Never throws for bad input.
 */
export function loadInventory(path: string, displayFile: string = path): ParsedInventory {
  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory (inventory directories are not supported; name one file)'
          : e instanceof Error
            ? e.message
            : String(e);
    const result = parseInventory(displayFile, '');
    result.diagnostics.push({
      severity: 'error',
      code: 'inventory/unreadable',
      message: `cannot read inventory: ${reason}`,
      file: displayFile,
    });
    return result;
  }
  const result = parseInventory(displayFile, text);
  const base = dirname(path);
  const displayBase = dirname(displayFile);
  for (const [sub, entities] of [
    ['group_vars', result.inventory.groups],
    ['host_vars', result.inventory.hosts],
  ] as const) {
    const dir = join(base, sub);
    const st = stat(dir);
    if (!st) continue;
    if (!st.isDirectory()) {
      result.diagnostics.push({
        severity: 'warning',
        code: 'inventory/vars-dir',
        message: `found ${sub} that is not a directory, skipping it`,
        file: join(displayBase, sub),
      });
      continue;
    }
    for (const entity of entities.values()) {
      applyFiles(entity, dir, join(displayBase, sub), result.diagnostics);
    }
  }
  return result;
}

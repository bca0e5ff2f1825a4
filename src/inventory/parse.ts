/**
 * Reading an inventory file's text: YAML or INI, decided the way Ansible's plugin chain decides
 * (the `yaml` plugin for files named without extension or .yml/.yaml/.json, if they parse as a
 * non-empty mapping; else the `ini` plugin). Pure; never throws on bad input.
 */
import { sortDiagnostics, type Diagnostic } from '../diagnostics.ts';
import { SourceText } from '../util/source.ts';
import type { SharedInventory } from './builder.ts';
import type { VaultKey } from './vault-yaml.ts';
import { parseIni } from './ini.ts';
import type { Inventory } from './types.ts';
import { parseYamlInventory } from './yaml-inventory.ts';

export interface ParsedInventory {
  inventory: Inventory;
  diagnostics: Diagnostic[];
}

/** Ansible's `yaml_extensions` (plus no extension at all). */
const YAML_EXTENSIONS = ['.yaml', '.yml', '.json'];

function extension(file: string): string {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

function inventoryFormatCandidates(file: string): ('yaml' | 'ini')[] {
  const ext = extension(file);
  return ext === '' || YAML_EXTENSIONS.includes(ext) ? ['yaml', 'ini'] : ['ini'];
}

export interface ParseOptions {
  /** The file adds to an inventory other files build too (a directory); the caller reconciles. */
  shared?: SharedInventory;
  /** The vault password for `!vault` values (none given: they are errors). */
  vault?: VaultKey;
}

export function parseInventory(
  file: string,
  text: string,
  options: ParseOptions = {},
): ParsedInventory {
  const result = detectAndParse(file, text, options);
  return { inventory: result.inventory, diagnostics: sortDiagnostics(result.diagnostics) };
}

function detectAndParse(file: string, text: string, options: ParseOptions): ParsedInventory {
  const { shared } = options;
  const src = new SourceText(file, text.replace(/^\uFEFF/, ''));
  const formats = inventoryFormatCandidates(file);
  if (!formats.includes('yaml')) return parseIni(src, shared);
  const yaml = parseYamlInventory(src, options);
  if (yaml.kind === 'inventory')
    return { inventory: yaml.inventory, diagnostics: yaml.diagnostics };
  const ini = parseIni(src, shared);
  if (!ini.diagnostics.some((d) => d.severity === 'error')) return ini;
  // Neither format fits. Report the one the user most likely meant: YAML for .yml/.yaml/.json,
  // or where the text has YAML's shape (its first significant line is `key:`).
  const ext = extension(file);
  const firstLine =
    src.text.split(/\r?\n/).find((l) => l.trim() !== '' && !/^\s*[#;]/.test(l)) ?? '';
  const looksYaml =
    ext !== '' || /^[^\s[=]+:\s*(?:#.*)?$/.test(firstLine.trimEnd()) || firstLine.startsWith('---');
  if (looksYaml && yaml.diagnostics.some((d) => d.code !== 'inventory/yaml-empty')) {
    return { inventory: ini.inventory, diagnostics: yaml.diagnostics };
  }
  return ini;
}

/**
 * What every semantic rule of kpfleet.yml works with: the input (the YAML, the model, what the
 * loader found about files and the inventory), and `at`, which adds a diagnostic at the position
 * of a YAML node.
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { Inventory } from '../inventory/types.ts';
import type { KeyFileProblem } from './connection-vars.ts';
import type { InventoryConnectionInput } from './inventory-connection.ts';
import type { Config, ModuleSignature } from '../config-model.ts';
import type { JsonPath, YamlFile } from './yaml-doc.ts';

export interface PatchFileFacts {
  /** Why the file cannot be used (does not exist, is a directory or a FIFO, permission denied). */
  error?: string;
  sha256?: string;
  /** Its appended signature (`module-signature.ts`), read with the sha256. */
  signature?: ModuleSignature;
  /** The project folder, when the file is outside it (as written, or where a symlink leads). */
  outsideProject?: string;
  /** Where the file really is, when a symlink on its path inside the project leads elsewhere. */
  realPath?: string;
}

export interface RulesInput {
  yaml: YamlFile;
  config: Config;
  /** Facts about each `file:` of the catalogue, by absolute path. */
  patchFiles: ReadonlyMap<string, PatchFileFacts>;
  /** The inventory, if it could be read and parsed. */
  inventory?: Inventory;
  /** What the loader found about kpfleet.yml's private key file as written (stat only; memoized). */
  keyFile?: KeyFileProblem;
  /** What checking the inventory's connection variables needs beyond the inventory. */
  inventoryConnection?: Omit<InventoryConnectionInput, 'touched'>;
}

export type Obj = Record<string, unknown>;

/** Adds a diagnostic at the node `path` (its value, or its key). */
export type At = (
  severity: Diagnostic['severity'],
  code: string,
  path: JsonPath,
  message: string,
  hint?: string,
  where?: 'key' | 'value',
) => void;

export interface RuleContext {
  input: RulesInput;
  config: Config;
  /** The YAML document as plain data. */
  raw: Obj;
  at: At;
  /** Where `name` stands in the list at `path`, -1 if it does not. */
  listIndex: (path: JsonPath, name: string) => number;
  /** The catalogue's patch names, in order. */
  patchNames: string[];
}

/** The value at `path` in `root`, if there is one. */
export function get(root: unknown, path: JsonPath): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Obj)[seg];
  }
  return node;
}

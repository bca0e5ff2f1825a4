/**
 * Loading a project: find kpfleet.yml, read it and everything it references (the inventory, the
 * patch files), and validate the lot. The only I/O of config/; everything it calls is pure.
 * Nothing here contacts a host.
 */
import { sha256Hex } from '../util/hash.ts';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Diagnostic } from '../diagnostics.ts';
import { sortDiagnostics } from '../diagnostics.ts';
import { UsageError } from '../errors.ts';
import { loadInventory } from '../inventory/load.ts';
import type { Inventory } from '../inventory/types.ts';
import type { VaultKey } from '../inventory/vault-yaml.ts';
import type { ConnectionContext } from '../desired/connection.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { inventoryConnectionFacts, keyFileLooker } from './load-connection.ts';
import { projectFileTest, realPathInProject } from './project-files.ts';
import { redactDiagnostic } from '../util/secrets.ts';
import { SourceText } from '../util/source.ts';
import type { Config } from '../config-model.ts';
import { normalizeConfig } from './normalize.ts';
import { readModuleSignature } from './module-signature.ts';
import { checkRules } from './rules.ts';
import type { PatchFileFacts } from './rules-context.ts';
import { validateSchema } from './schema.ts';
import { scanSshConfig } from './ssh-config-scan.ts';
import type { SshConfigRoot, SshConfigScanFs } from './ssh-config-scan.ts';
import { offsetOf, parseYamlFile } from './yaml-doc.ts';
import { pushAll } from '../util/arrays.ts';

const CONFIG_NAMES = ['kpfleet.yml', 'kpfleet.yaml'];

export interface LoadOptions {
  /** `-c FILE`; otherwise kpfleet.yml in `cwd`. */
  configPath?: string;
  cwd?: string;
  home?: string;
  /**
   * `--trust-ssh-config`: an ssh config inside the project may run commands (Match exec,
   * ProxyCommand, ...). Only the command line sets it, never a file or the environment.
   */
  trustSshConfig?: boolean;
  /** The vault password (cli/vault-password.ts reads it); undefined: none was given. */
  vault?: VaultKey;
  /** The environment `lookup('env', …)` reads in inventory variables; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Project {
  config: Config;
  /** Resolves a path as the project file's paths are resolved: `~` expanded, relative to its folder. */
  resolvePath: (written: string) => string;
  /** What resolving an inventory host's connection needs: the environment, the working directory. */
  connectionContext: ConnectionContext;
  /** Undefined when the inventory could not be read or parsed. */
  inventory?: Inventory;
  /** Errors and warnings, sorted by file and position. */
  diagnostics: Diagnostic[];
}

export function findConfigFile(cwd: string, explicit?: string): string {
  if (explicit !== undefined) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p))
      throw new UsageError(`config file not found: ${explicit}`, {
        hint: 'check the path given with -c',
      });
    return p;
  }
  for (const name of CONFIG_NAMES) {
    const p = join(cwd, name);
    if (existsSync(p)) return p;
  }
  throw new UsageError(`no kpfleet.yml in ${cwd}`, {
    hint: 'run kpfleet in the folder that holds kpfleet.yml, or name it with -c FILE (see examples/)',
  });
}

function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return join(home, p.slice(2));
  return p;
}

export function loadProject(options: LoadOptions = {}): Project {
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? homedir();
  const path = findConfigFile(cwd, options.configPath);
  const display = displayPath(cwd, path);
  const dir = dirname(path);
  const resolvePath = (written: string): string => resolve(dir, expandHome(written, home));
  // ssh, which Ansible hands an inventory's key path to, resolves it in the working directory
  const connectionContext: ConnectionContext = {
    env: options.env ?? process.env,
    resolveKeyPath: (written) => resolve(cwd, expandHome(written, home)),
  };

  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${display}: ${errnoText(err)}`);
  }
  const yaml = parseYamlFile(display, text);
  const diagnostics: Diagnostic[] = [...yaml.diagnostics];
  const config = normalizeConfig(yaml.value, { file: display, resolvePath });
  if (yaml.value === undefined)
    return { config, resolvePath, connectionContext, diagnostics: sortDiagnostics(diagnostics) };
  if (yaml.value === null || typeof yaml.value !== 'object' || Array.isArray(yaml.value)) {
    diagnostics.push(
      yaml.source.diagnostic(
        'error',
        'schema/type',
        `${display} must be a mapping of settings (inventory, connection, rollout, patches, groups)`,
        yaml.doc.contents?.range[0] ?? 0,
      ),
    );
    return { config, resolvePath, connectionContext, diagnostics: sortDiagnostics(diagnostics) };
  }
  pushAll(diagnostics, validateSchema(yaml));

  const inProject = projectFileTest(dir, home);
  let inventory: Inventory | undefined;
  if (config.inventory !== '') {
    const invDisplay = displayPath(cwd, config.inventory);
    // an inventory of the project reads no file that really lies outside it (inventory/confine.ts)
    const confine = inProject(config.inventory) ? realPathInProject(dir, home) : undefined;
    const unread = isDirectory(config.inventory) || confine?.(config.inventory) === false;
    const readable = unread ? undefined : checkReadable(config.inventory);
    if (readable !== undefined) {
      diagnostics.push(
        yaml.source.diagnostic(
          'error',
          'rules/inventory',
          `inventory '${config.inventoryWritten}' cannot be read: ${readable}`,
          offsetOf(yaml.doc, ['inventory']),
          `the path is relative to ${display}`,
        ),
      );
    } else {
      const loaded = loadInventory(config.inventory, invDisplay, {
        ...(options.vault ? { vault: options.vault } : {}),
        ...(confine ? { inProject: confine } : {}),
      });
      pushAll(diagnostics, loaded.diagnostics);
      if (!loaded.diagnostics.some((d) => d.severity === 'error')) inventory = loaded.inventory;
    }
  }

  const patchFiles = new Map<string, PatchFileFacts>();
  for (const patch of config.patches.values()) {
    if (patch.source.kind !== 'file') continue; // an rpm's module: its signature is not known
    let facts = patchFiles.get(patch.source.path);
    if (!facts) {
      facts = inspectPatchFile(patch.source.path, dir);
      patchFiles.set(patch.source.path, facts);
    }
    // the file as read (one whose sha256 is not the declared one is an error of its own)
    if (facts.signature !== undefined) patch.source.signature = facts.signature;
  }
  const keyFile = keyFileLooker(resolvePath);
  const inventoryConnection = inventoryConnectionFacts(
    connectionContext,
    resolvePath,
    // a ProxyCommand in the inventory runs as one in an ssh config of the project would
    options.trustSshConfig === true || !inProject(config.inventory),
  );
  const ruleInput = inventory
    ? { yaml, config, patchFiles, inventory, keyFile, inventoryConnection }
    : { yaml, config, patchFiles, keyFile };
  pushAll(diagnostics, checkRules(ruleInput));
  if (options.trustSshConfig !== true)
    pushAll(diagnostics, sshConfigDiagnostics(config.connection.sshConfig, { cwd, home, dir }));
  attachLineText(diagnostics, cwd);
  for (const d of diagnostics) redactDiagnostic(d);
  const project: Project = {
    config,
    resolvePath,
    connectionContext,
    diagnostics: sortDiagnostics(diagnostics),
  };
  if (inventory) project.inventory = inventory;
  return project;
}

const scanFs: SshConfigScanFs = {
  readFile: (path) => {
    try {
      return statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  },
  readdir: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
};

/**
 * The ssh config files ssh will read for this project, scanned for directives that run commands
 * (ssh-config-scan.ts). The user's and the system's own files (~/.ssh, /etc/ssh) are trusted;
 * a file in the project, or included by one, is not.
 */
function sshConfigDiagnostics(
  sshConfig: string | false,
  at: { cwd: string; home: string; dir: string },
): Diagnostic[] {
  if (sshConfig === false) return [];
  // ssh reads ~/.ssh/config from the passwd entry, and expands `~` in Include from $HOME.
  const sshHome = userInfo().homedir;
  const defaults = [join(at.home, '.ssh/config'), join(sshHome, '.ssh/config')];
  const roots: SshConfigRoot[] = defaults.includes(sshConfig)
    ? [
        { path: join(sshHome, '.ssh/config'), user: true },
        { path: '/etc/ssh/ssh_config', user: false },
      ]
    : [{ path: sshConfig, user: true }];
  const inProject = projectFileTest(at.dir, at.home);
  return scanSshConfig(
    { roots, home: at.home, inProject, display: (p) => displayPath(at.cwd, p) },
    scanFs,
  );
}

function displayPath(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
};

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    (code !== undefined ? ERRNO_TEXT[code] : undefined) ??
    (err instanceof Error ? err.message : String(err))
  );
}

/** An inventory directory: its files are read as Ansible reads them (inventory/load.ts). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function checkReadable(path: string): string | undefined {
  try {
    readRegularFile(path);
    return undefined;
  } catch (err) {
    return errnoText(err);
  }
}

/**
 * A patch file's sha256 and appended signature (module-signature.ts), read without waiting on a FIFO or device, and where it really is: a file
 * outside the project folder, or reached through a symlink, is not covered by a review of the
 * project (rules.ts warns).
 */
function inspectPatchFile(path: string, projectDir: string): PatchFileFacts {
  let data: Buffer;
  try {
    data = readRegularFile(path);
  } catch (err) {
    return { error: errnoText(err) };
  }
  const facts: PatchFileFacts = {
    sha256: sha256Hex(data),
    signature: readModuleSignature(data),
  };
  const rel = relative(projectDir, path);
  if (rel.startsWith('..') || isAbsolute(rel)) return { ...facts, outsideProject: projectDir };
  try {
    const real = realpathSync(path);
    const realDir = realpathSync(projectDir);
    if (real !== join(realDir, rel)) {
      facts.realPath = real;
      const realRel = relative(realDir, real);
      if (realRel.startsWith('..') || isAbsolute(realRel)) facts.outsideProject = projectDir;
    }
  } catch {
    // it was just read; a path that vanished since is the next read's problem
  }
  return facts;
}

/** Diagnostics about other files (the inventory) may come without their source line. */
function attachLineText(diagnostics: Diagnostic[], cwd: string): void {
  const sources = new Map<string, SourceText | undefined>();
  for (const d of diagnostics) {
    if (d.lineText !== undefined || !d.pos) continue;
    if (!sources.has(d.file)) {
      try {
        sources.set(d.file, new SourceText(d.file, readFileSync(resolve(cwd, d.file), 'utf8')));
      } catch {
        sources.set(d.file, undefined);
      }
    }
    const src = sources.get(d.file);
    if (src) d.lineText = src.line(d.pos.line);
  }
}

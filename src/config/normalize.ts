/**
 * Raw YAML value → Config model. Tolerant: it reads only what is well-typed (the schema has
 * already reported the rest), so the semantic rules can still run and every error is reported in
 * one pass. Pure: paths are resolved by the function the caller passes.
 */
import { parseDuration } from './duration.ts';
import { DEFAULTS, MANAGER_CHOICES } from '../config-model.ts';
import type { Amount, Config, GroupSpec, ManagerChoice, Patch, Rollout } from '../config-model.ts';
import type { ConnectionDefaults } from '../connection.ts';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function strList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
}
function oneOf<T extends string>(v: unknown, allowed: readonly T[]): T | undefined {
  return allowed.find((a) => a === v);
}

export function parseAmount(v: unknown): Amount | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return { kind: 'count', value: v };
  if (typeof v === 'string') {
    const m = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(v);
    if (m) return { kind: 'percent', value: Number(m[1]) };
  }
  return undefined;
}

export interface NormalizeContext {
  /** The project file as the user named it. */
  file: string;
  /** Resolves a path written in the project file: `~` expansion, relative to its folder. */
  resolvePath: (written: string) => string;
}

export function normalizeConfig(raw: unknown, ctx: NormalizeContext): Config {
  const root = obj(raw);
  const inventoryWritten = str(root.inventory) ?? '';
  return {
    file: ctx.file,
    inventoryWritten,
    inventory: inventoryWritten ? ctx.resolvePath(inventoryWritten) : '',
    connection: normalizeConnection(obj(root.connection), ctx),
    ...manager(obj(root.connection).manager),
    rollout: normalizeRollout(obj(root.rollout)),
    patches: normalizePatches(
      obj(root.patches),
      parseDuration(obj(root.patch_defaults).support),
      ctx,
    ),
    groups: normalizeGroups(obj(root.groups)),
  };
}

/** `{ manager }` when `connection.manager` is a valid choice, else nothing. */
function manager(value: unknown): { manager?: ManagerChoice } {
  const m = oneOf(value, MANAGER_CHOICES);
  return m ? { manager: m } : {};
}

function normalizeConnection(c: Obj, ctx: NormalizeContext): ConnectionDefaults {
  const out: ConnectionDefaults = {
    become: oneOf(c.become, ['sudo', 'none'] as const) ?? DEFAULTS.become,
    knownHosts: (strList(c.known_hosts).length
      ? strList(c.known_hosts)
      : [DEFAULTS.knownHosts]
    ).map(ctx.resolvePath),
    hostKeyChecking:
      oneOf(c.host_key_checking, ['strict', 'accept-new', 'off'] as const) ??
      DEFAULTS.hostKeyChecking,
    sshConfig:
      c.ssh_config === false ? false : ctx.resolvePath(str(c.ssh_config) ?? DEFAULTS.sshConfig),
    connectTimeoutMs: parseDuration(c.connect_timeout) ?? DEFAULTS.connectTimeoutMs,
    commandTimeoutMs: parseDuration(c.command_timeout) ?? DEFAULTS.commandTimeoutMs,
    keepaliveIntervalMs: parseDuration(c.keepalive_interval) ?? DEFAULTS.keepaliveIntervalMs,
  };
  const user = str(c.user);
  if (user !== undefined) out.user = user;
  if (typeof c.port === 'number' && Number.isInteger(c.port)) out.port = c.port;
  const key = str(c.private_key_file);
  if (key !== undefined) out.privateKeyFile = ctx.resolvePath(key);
  return out;
}

function normalizeRollout(r: Obj): Rollout {
  const waves = Array.isArray(r.waves)
    ? r.waves.map(parseAmount).filter((a): a is Amount => a !== undefined)
    : [];
  const out: Rollout = {
    forks:
      typeof r.forks === 'number' && Number.isInteger(r.forks) && r.forks >= 1
        ? r.forks
        : DEFAULTS.forks,
    waves: waves.length ? waves : DEFAULTS.waves,
    maxFailures: parseAmount(r.max_failures) ?? DEFAULTS.maxFailures,
    healthCheckTimeoutMs: parseDuration(r.health_check_timeout) ?? DEFAULTS.healthCheckTimeoutMs,
  };
  const hc = str(r.health_check);
  if (hc !== undefined) out.healthCheck = hc;
  const due = parseDuration(r.reboot_due_after);
  if (due !== undefined) out.rebootDueAfterMs = due;
  return out;
}

function normalizePatches(
  patches: Obj,
  defaultSupportMs: number | undefined,
  ctx: NormalizeContext,
): Map<string, Patch> {
  const out = new Map<string, Patch>();
  for (const [name, value] of Object.entries(patches)) {
    const p = obj(value);
    const file = str(p.file);
    const rpm = str(p.rpm);
    const patch: Patch = {
      name,
      module: str(p.module) ?? '',
      kernels: strList(p.kernel),
      source: file
        ? {
            kind: 'file',
            path: ctx.resolvePath(file),
            written: file,
            sha256: (str(p.sha256) ?? '').toLowerCase(),
          }
        : { kind: 'rpm', package: rpm ?? '' },
      replaces: strList(p.replaces),
      cves: strList(p.cves),
    };
    const released = str(p.released);
    if (released !== undefined) patch.released = released;
    const support = parseDuration(p.support) ?? defaultSupportMs;
    if (support !== undefined) patch.supportMs = support;
    const description = str(p.description);
    if (description !== undefined) patch.description = description;
    out.set(name, patch);
  }
  return out;
}

function normalizeGroups(groups: Obj): Map<string, GroupSpec> {
  const out = new Map<string, GroupSpec>();
  for (const [name, value] of Object.entries(groups)) {
    const g = obj(value);
    const spec: GroupSpec = {
      name,
      loaded: strList(g.loaded),
      installed: strList(g.installed),
      absent: strList(g.absent),
    };
    const unmanaged = oneOf(g.unmanaged, ['keep', 'remove'] as const);
    if (unmanaged) spec.unmanaged = unmanaged;
    const uncovered = oneOf(g.uncovered_kernel, ['warn', 'fail'] as const);
    if (uncovered) spec.uncoveredKernel = uncovered;
    const m = oneOf(g.manager, MANAGER_CHOICES);
    if (m) spec.manager = m;
    out.set(name, spec);
  }
  return out;
}

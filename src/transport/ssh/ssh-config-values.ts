/**
 * What `ssh -G` printed, read: its `key value` lines (`parseSshG`), a ProxyJump hop
 * (`parseJumpHost`), and the settings a transport needs (`toResolvedConfig`: HostName, User,
 * Port, IdentityFile with its tokens expanded, ProxyJump, ProxyCommand, HostKeyAlias,
 * known-hosts files, …). Pure.
 */
import { expandPath } from './ssh-config-tokens.ts';
import type { TokenContext } from './ssh-config-tokens.ts';

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';

/** One hop of a `ProxyJump` chain. */
export interface JumpHost {
  user?: string;
  host: string;
  port?: number;
}

export interface ResolvedSshConfig {
  /** The host name kpfleet asked about (the inventory's address). */
  host: string;
  /** Where to connect: `HostName`, or the host itself. */
  hostname: string;
  user: string;
  port: number;
  /** In order, `~`, `${ENV}` and `%` tokens expanded. Includes ssh's defaults when none is set. */
  identityFiles: string[];
  certificateFiles: string[];
  identitiesOnly: boolean;
  /** The `ProxyJump` chain as written, one `[user@]host[:port]` per hop; `none` → undefined. */
  proxyJump: string[] | undefined;
  /** `ProxyCommand`; `none` → undefined. */
  proxyCommand: string | undefined;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** `off` reads as `no` (`ssh -G` prints both as `false`). */
  strictHostKeyChecking: StrictHostKeyChecking;
  hashKnownHosts: boolean;
  hostKeyAlias: string | undefined;
  /** Seconds; `none` → undefined. */
  connectTimeout: number | undefined;
  connectionAttempts: number;
  /** Seconds; 0 = off. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  /** A socket path, `SSH_AUTH_SOCK`, or `none`; undefined = ssh's default (`$SSH_AUTH_SOCK`). */
  identityAgent: string | undefined;
  /** `yes`, `no`, `ask`, `confirm`, optionally with a lifetime in seconds (`confirm 3600`). */
  addKeysToAgent: string;
  /** `true`, `false`, or a socket path / `$ENV` name to forward. */
  forwardAgent: boolean | string;
  batchMode: boolean;
  pubkeyAuthentication: boolean;
  passwordAuthentication: boolean;
  kbdInteractiveAuthentication: boolean;
  /** Algorithm preferences as ssh would offer them (intersect with what ssh2 supports). */
  hostKeyAlgorithms: string[];
  kexAlgorithms: string[];
  ciphers: string[];
  macs: string[];
  /** Every `ssh -G` line: lowercase key → its values, in order (repeated keys keep each value). */
  raw: ReadonlyMap<string, readonly string[]>;
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

/** `ssh -G` output → lowercase key → values in order. */
export function parseSshG(output: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed === '') continue;
    const space = trimmed.indexOf(' ');
    const key = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : trimmed.slice(space + 1);
    const values = raw.get(key);
    if (values === undefined) raw.set(key, [value]);
    else values.push(value);
  }
  return raw;
}

/**
 * `base` with some keys replaced by `top`'s, without copying `base`: a plan without an ssh config
 * derives every host's `ssh -G` answer from one template, and copying its ~100 keys per host was
 * measurable at 10,000 hosts. Lookups read `top`, then `base`; iteration builds the merged map
 * once, in the order `new Map([...base, ...top])` has.
 */
export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  private merged: Map<K, V> | undefined;
  private readonly base: ReadonlyMap<K, V>;
  private readonly top: ReadonlyMap<K, V>;
  constructor(base: ReadonlyMap<K, V>, top: ReadonlyMap<K, V>) {
    this.base = base;
    this.top = top;
  }
  get(key: K): V | undefined {
    return this.top.has(key) ? this.top.get(key) : this.base.get(key);
  }
  has(key: K): boolean {
    return this.top.has(key) || this.base.has(key);
  }
  private full(): Map<K, V> {
    this.merged ??= new Map([...this.base, ...this.top]);
    return this.merged;
  }
  get size(): number {
    return this.full().size;
  }
  entries(): MapIterator<[K, V]> {
    return this.full().entries();
  }
  keys(): MapIterator<K> {
    return this.full().keys();
  }
  values(): MapIterator<V> {
    return this.full().values();
  }
  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    this.full().forEach((v, k) => {
      fn.call(thisArg, v, k, this);
    });
  }
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.full()[Symbol.iterator]();
  }
}

/** Whether a shared answer has a `%` token left in a value (then its settings depend on the host). */
const hasTokens = new WeakMap<ResolvedSshConfig, boolean>();

/**
 * The answer `template` (one host's) gives for `host`, which the config files cannot tell apart
 * from it: `host`, `hostname` (ssh lowercases it) and `port` (the `-p` port, else the template's)
 * overlaid, nothing copied. When no value holds a `%` token, nothing else in the answer depends
 * on the host; otherwise the settings are read again from the overlaid lines.
 */
export function answerFor(
  template: ResolvedSshConfig,
  host: string,
  port: number | undefined,
  local: () => Pick<TokenContext, 'home' | 'localUser' | 'uid' | 'localHostname' | 'env'>,
): ResolvedSshConfig {
  const p = port ?? template.port;
  const hostname = host.toLowerCase();
  const raw = new OverlayMap(
    template.raw,
    new Map([
      ['host', [host]],
      ['hostname', [hostname]],
      ['port', [String(p)]],
    ]),
  );
  let tokens = hasTokens.get(template);
  if (tokens === undefined) {
    tokens = [...template.raw.values()].some((vs) => vs.some((v) => v.includes('%')));
    hasTokens.set(template, tokens);
  }
  if (tokens) return toResolvedConfig(host, raw, local());
  return { ...template, host, hostname, port: p, raw };
}

/** `[user@]host[:port]`, `[v6]:port`, or `ssh://[user@]host[:port]`, as ProxyJump takes them. */
export function parseJumpHost(spec: string): JumpHost {
  let rest = spec.startsWith('ssh://') ? spec.slice('ssh://'.length).replace(/\/$/, '') : spec;
  const out: JumpHost = { host: '' };
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    out.user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(rest);
  if (v6 !== null) {
    out.host = v6[1] ?? '';
    if (v6[2] !== undefined) out.port = Number(v6[2]);
    return out;
  }
  const colon = /^([^:]*):(\d+)$/.exec(rest);
  if (colon !== null) {
    out.host = colon[1] ?? '';
    out.port = Number(colon[2]);
    return out;
  }
  out.host = rest;
  return out;
}

function list(raw: ReadonlyMap<string, readonly string[]>, key: string): string[] {
  return [...(raw.get(key) ?? [])];
}

function one(raw: ReadonlyMap<string, readonly string[]>, key: string): string | undefined {
  return raw.get(key)?.[0];
}

function words(raw: ReadonlyMap<string, readonly string[]>, key: string): string[] {
  return (one(raw, key) ?? '').split(' ').filter((w) => w !== '');
}

function commaList(raw: ReadonlyMap<string, readonly string[]>, key: string): string[] {
  return (one(raw, key) ?? '').split(',').filter((w) => w !== '');
}

function flag(raw: ReadonlyMap<string, readonly string[]>, key: string, dflt: boolean): boolean {
  const v = one(raw, key)?.toLowerCase();
  if (v === undefined) return dflt;
  return v === 'yes' || v === 'true';
}

function int(raw: ReadonlyMap<string, readonly string[]>, key: string, dflt: number): number {
  const v = one(raw, key);
  if (v === undefined || !/^\d+$/.test(v)) return dflt;
  return Number(v);
}

function noneToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.toLowerCase() === 'none' ? undefined : v;
}

/** `ssh -G` output → the settings a transport needs (plus every line in `raw`). */
export function toResolvedConfig(
  host: string,
  raw: ReadonlyMap<string, readonly string[]>,
  local: Pick<TokenContext, 'home' | 'localUser' | 'uid' | 'localHostname' | 'env'>,
): ResolvedSshConfig {
  const hostname = one(raw, 'hostname') ?? host;
  const user = one(raw, 'user') ?? local.localUser;
  const port = int(raw, 'port', 22);
  const hostKeyAlias = one(raw, 'hostkeyalias');
  const ctx: TokenContext = {
    ...local,
    originalHost: host,
    hostname,
    port,
    remoteUser: user,
    hostKeyAlias,
  };

  const strict = one(raw, 'stricthostkeychecking')?.toLowerCase();
  const strictHostKeyChecking: StrictHostKeyChecking =
    strict === 'true' || strict === 'yes'
      ? 'yes'
      : strict === 'false' || strict === 'no' || strict === 'off'
        ? 'no'
        : strict === 'accept-new'
          ? 'accept-new'
          : 'ask';

  const jump = noneToUndefined(one(raw, 'proxyjump'));
  const timeout = one(raw, 'connecttimeout');
  const addKeys = one(raw, 'addkeystoagent') ?? 'false';
  const forward = one(raw, 'forwardagent') ?? 'no';

  return {
    host,
    hostname,
    user,
    port,
    identityFiles: list(raw, 'identityfile').map((p) => expandPath(p, ctx)),
    certificateFiles: list(raw, 'certificatefile').map((p) => expandPath(p, ctx)),
    identitiesOnly: flag(raw, 'identitiesonly', false),
    proxyJump: jump === undefined ? undefined : jump.split(',').filter((h) => h !== ''),
    proxyCommand: noneToUndefined(one(raw, 'proxycommand')),
    userKnownHostsFiles: words(raw, 'userknownhostsfile').map((p) => expandPath(p, ctx)),
    globalKnownHostsFiles: words(raw, 'globalknownhostsfile').map((p) => expandPath(p, ctx)),
    strictHostKeyChecking,
    hashKnownHosts: flag(raw, 'hashknownhosts', false),
    hostKeyAlias,
    connectTimeout: timeout === undefined || !/^\d+$/.test(timeout) ? undefined : Number(timeout),
    connectionAttempts: int(raw, 'connectionattempts', 1),
    serverAliveInterval: int(raw, 'serveraliveinterval', 0),
    serverAliveCountMax: int(raw, 'serveralivecountmax', 3),
    identityAgent: one(raw, 'identityagent'),
    addKeysToAgent: addKeys
      .replace(/^true\b/, 'yes')
      .replace(/^false\b/, 'no')
      .replace(/^(\d+)$/, 'yes $1'),
    forwardAgent:
      forward === 'yes' || forward === 'true'
        ? true
        : forward === 'no' || forward === 'false'
          ? false
          : forward,
    batchMode: flag(raw, 'batchmode', false),
    pubkeyAuthentication: flag(raw, 'pubkeyauthentication', true),
    passwordAuthentication: flag(raw, 'passwordauthentication', true),
    kbdInteractiveAuthentication: flag(raw, 'kbdinteractiveauthentication', true),
    hostKeyAlgorithms: commaList(raw, 'hostkeyalgorithms'),
    kexAlgorithms: commaList(raw, 'kexalgorithms'),
    ciphers: commaList(raw, 'ciphers'),
    macs: commaList(raw, 'macs'),
    raw,
  };
}

/**
 * OpenSSH client settings for a host, resolved as OpenSSH resolves them: kpfleet asks
 * `ssh -G` (it evaluates Host/Match blocks, Include, defaults and the command line, and makes no
 * connection) and parses its `key value` lines. `ssh -G` is the reference; nothing here
 * re-implements ssh_config's matching rules.
 *
 * Two things `ssh -G` (OpenSSH 9.2) prints unexpanded are expanded here, as ssh does before it
 * uses them: `~` and the `%` tokens in `IdentityFile` and `CertificateFile`. Known-hosts files and
 * `IdentityAgent` come out of `ssh -G` already expanded.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { homedir, hostname as localHostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { SshClientMissingError, SshConfigError } from '../../errors.ts';
import { showCommand } from '../shell.ts';

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';

export interface ResolveSshConfigOptions {
  /**
   * The ssh_config file. `undefined`, or the default `~/.ssh/config`: ssh's own defaults (the
   * user's file, then `/etc/ssh/ssh_config`). Another path: `-F path` (ssh then reads only that
   * file). `false`: `-F none`, no file at all, only ssh's built-in defaults.
   */
  configFile?: string | false | undefined;
  /** `-l user`: wins over `User` in the file. */
  user?: string | undefined;
  /** `-p port`: wins over `Port` in the file. */
  port?: number | undefined;
  /** The ssh binary; `ssh` on PATH by default. */
  sshBinary?: string | undefined;
  /** Milliseconds before `ssh -G` is given up (a `Match exec` can hang). Default 15 s. */
  timeoutMs?: number | undefined;
}

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

/** What the `%` tokens of IdentityFile and friends stand for (ssh_config(5), TOKENS). */
export interface TokenContext {
  /** %n: the host as given on the command line. */
  originalHost: string;
  /** %h: the remote host name (after HostName). */
  hostname: string;
  /** %p */
  port: number;
  /** %r */
  remoteUser: string;
  /** %k: HostKeyAlias, or the original host. */
  hostKeyAlias: string | undefined;
  /** %d */
  home: string;
  /** %u */
  localUser: string;
  /** %i */
  uid: number;
  /** %l: the local host name with its domain; %L is up to its first dot. */
  localHostname: string;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * `~`, `${ENV}` and `%` tokens expanded as ssh expands a path option. An unknown token or an
 * unset variable is left as written (ssh would refuse the option when it uses it).
 */
export function expandPath(value: string, ctx: TokenContext): string {
  const short = ctx.localHostname.split('.')[0] ?? ctx.localHostname;
  const tokens: Record<string, string> = {
    '%': '%',
    d: ctx.home,
    h: ctx.hostname,
    i: String(ctx.uid),
    k: ctx.hostKeyAlias ?? ctx.originalHost,
    L: short,
    l: ctx.localHostname,
    n: ctx.originalHost,
    p: String(ctx.port),
    r: ctx.remoteUser,
    u: ctx.localUser,
  };
  // %C: sha1 hex of %l%h%p%r, as OpenSSH 9.2 computes it (ssh.c, ssh_connection_hash).
  tokens.C = createHash('sha1')
    .update(`${ctx.localHostname}${ctx.hostname}${String(ctx.port)}${ctx.remoteUser}`)
    .digest('hex');
  let path = value;
  if (path === '~' || path.startsWith('~/')) path = ctx.home + path.slice(1);
  path = path.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
    return ctx.env[name] ?? whole;
  });
  return path.replace(/%(.)/g, (whole, key: string) => tokens[key] ?? whole);
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

/** The local facts the `%` tokens need; a parameter so that tests can fix them. */
export function localTokenFacts(): Pick<
  TokenContext,
  'home' | 'localUser' | 'uid' | 'localHostname' | 'env'
> {
  const info = userInfo();
  return {
    home: info.homedir,
    localUser: info.username,
    uid: info.uid,
    localHostname: localHostname(),
    env: process.env,
  };
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

// ---------------------------------------------------------------------------------------------
// Running ssh -G

/** The `ssh` arguments for `opts` and `host`; the default user config is left to ssh. */
export function sshGArgs(host: string, opts: ResolveSshConfigOptions = {}): string[] {
  const args = ['-G'];
  const file = opts.configFile;
  if (file === false) args.push('-F', 'none');
  else if (file !== undefined && !isDefaultUserConfig(file)) args.push('-F', file);
  if (opts.user !== undefined) args.push('-l', opts.user);
  if (opts.port !== undefined) args.push('-p', String(opts.port));
  // `--`: a host that starts with `-` is a host, never an option.
  args.push('--', host);
  return args;
}

/**
 * `-F ~/.ssh/config` would make ssh skip `/etc/ssh/ssh_config` and fail when the file is
 * missing; without `-F` ssh reads both, and a missing user file is no error.
 */
function isDefaultUserConfig(file: string): boolean {
  // os.homedir() reads $HOME (as kpfleet's loader does); ssh uses the passwd entry.
  return (
    file === '~/.ssh/config' ||
    file === join(homedir(), '.ssh', 'config') ||
    file === join(userInfo().homedir, '.ssh', 'config')
  );
}

/** `path: line N: message`, as readconf.c reports a bad line. */
const CONFIG_LINE = /^(.+?): line (\d+): (.*)$/;

/** The first line of ssh's stderr that names a configuration file and line. */
function configLine(text: string): RegExpExecArray | undefined {
  // ssh ends its log lines with CRLF
  for (const line of text.split('\n')) {
    const m = CONFIG_LINE.exec(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (m) return m;
  }
  return undefined;
}

/** What kpfleet reads of `ssh -G`'s output: a real configuration prints a few KiB. */
const SSH_G_MAX_OUTPUT = 4 * 1024 * 1024;

function runSshG(
  host: string,
  opts: ResolveSshConfigOptions,
): Promise<{ stdout: string; stderr: string }> {
  const binary = opts.sshBinary ?? 'ssh';
  const args = sshGArgs(host, opts);
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      args,
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 15_000,
        maxBuffer: SSH_G_MAX_OUTPUT,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          reject(new SshClientMissingError(binary, { host, cause: error }));
          return;
        }
        const text = stderr.trim();
        if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          reject(
            new SshConfigError(
              `\`${binary} -G ${host}\` printed more than ${String(SSH_G_MAX_OUTPUT / 1024 / 1024)} MiB: kpfleet stopped reading it`,
              { stderr: text.slice(0, 2000) },
              {
                host,
                cause: error,
                hint: `run \`${[binary, ...args].join(' ')} | wc -c\` to see what ssh prints, or set \`connection.ssh_config: false\``,
              },
            ),
          );
          return;
        }
        if (error.killed) {
          reject(
            new SshConfigError(
              `\`${showCommand([binary, ...args])}\` did not answer within ${String(opts.timeoutMs ?? 15_000)} ms (a Match exec that hangs?)`,
              { stderr: text },
              { host, cause: error },
            ),
          );
          return;
        }
        const at = configLine(text);
        const file = at?.[1];
        const line = at?.[2] === undefined ? undefined : Number(at[2]);
        const first = text.split('\n')[0] ?? '';
        reject(
          new SshConfigError(
            `OpenSSH cannot read its configuration for ${host}: ${first === '' ? `\`${showCommand([binary, '-G'])}\` exited with ${String(error.code ?? error.signal)}` : first}`,
            { stderr: text, file, line },
            {
              host,
              cause: error,
              hint:
                file === undefined
                  ? `run \`${showCommand([binary, ...args])}\` to see what ssh says`
                  : `fix ${file}:${String(line)}, or set \`connection.ssh_config: false\``,
            },
          ),
        );
      },
    );
    // `ssh -G` reads nothing; a closed stdin also keeps it from ever waiting on a terminal.
    child.stdin?.end();
  });
}

/**
 * Resolve `host` as `ssh -G [-F file] [-l user] [-p port] -- host` does. No connection is made.
 * @throws SshClientMissingError when ssh cannot be run; SshConfigError when ssh refuses the
 *   configuration (its stderr, file and line kept).
 */
export async function resolveSshConfig(
  host: string,
  opts: ResolveSshConfigOptions = {},
): Promise<ResolvedSshConfig> {
  const { stdout } = await runSshG(host, opts);
  return toResolvedConfig(host, parseSshG(stdout), localTokenFacts());
}

// ---------------------------------------------------------------------------------------------
// Cache and bounded parallelism

const cache = new Map<string, Promise<ResolvedSshConfig>>();

function cacheKey(host: string, opts: ResolveSshConfigOptions): string {
  return JSON.stringify([
    opts.sshBinary ?? 'ssh',
    opts.configFile ?? null,
    opts.user ?? null,
    opts.port ?? null,
    host,
  ]);
}

/** `resolveSshConfig`, remembered per (binary, file, user, port, host) for this process. */
export function resolveSshConfigCached(
  host: string,
  opts: ResolveSshConfigOptions = {},
): Promise<ResolvedSshConfig> {
  // Without any config file (`-F none`) the host and port change nothing but `host`, `hostname`
  // (ssh lowercases it) and `port`: one `ssh -G` serves every host with the same user, instead of
  // one process per host or per port (measured by the plan and scale benchmarks).
  if (opts.configFile === false && host !== NO_CONFIG_TEMPLATE) {
    const { port, ...rest } = opts;
    return resolveSshConfigCached(NO_CONFIG_TEMPLATE, rest).then((t) => {
      const p = port ?? t.port;
      return {
        ...t,
        host,
        hostname: host.toLowerCase(),
        port: p,
        raw: new Map([
          ...t.raw,
          ['host', [host]],
          ['hostname', [host.toLowerCase()]],
          ['port', [String(p)]],
        ]),
      };
    });
  }
  const key = cacheKey(host, opts);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const pending = resolveSshConfig(host, opts);
  cache.set(key, pending);
  // A failure is not remembered: the next call asks ssh again.
  pending.catch(() => cache.delete(key));
  return pending;
}

/** The host `ssh -G -F none` is asked about once, for every host resolved without a config. */
const NO_CONFIG_TEMPLATE = 'kpfleet-no-config.invalid';

/** Forget every cached resolution (after the config file changed, and between tests). */
export function clearSshConfigCache(): void {
  cache.clear();
}

/**
 * Resolve many hosts, at most `concurrency` `ssh -G` at a time, through the cache. The map is in
 * the order of `hosts` (duplicates resolved once). Rejects with the first host's error, in the
 * order of `hosts`, after every started `ssh -G` has finished.
 */
export async function resolveMany(
  hosts: readonly string[],
  opts: ResolveSshConfigOptions = {},
  concurrency = 8,
): Promise<Map<string, ResolvedSshConfig>> {
  const unique = [...new Set(hosts)];
  const results = new Array<PromiseSettledResult<ResolvedSshConfig> | undefined>(unique.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unique.length) {
      const i = next++;
      const host = unique[i] ?? '';
      try {
        results[i] = { status: 'fulfilled', value: await resolveSshConfigCached(host, opts) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  const width = Math.max(1, Math.min(Math.floor(concurrency), unique.length));
  await Promise.all(Array.from({ length: width }, worker));
  const out = new Map<string, ResolvedSshConfig>();
  unique.forEach((host, i) => {
    const r = results[i];
    if (r?.status === 'rejected') throw r.reason;
    if (r?.status === 'fulfilled') out.set(host, r.value);
  });
  return out;
}

/**
 * OpenSSH client settings for a host, resolved as OpenSSH resolves them: kpfleet asks
 * `ssh -G` (it evaluates Host/Match blocks, Include, defaults and the command line, and makes no
 * connection) and parses its `key value` lines (ssh-config-values.ts). `ssh -G` is the
 * reference for every value. Here: running `ssh -G` (arguments, errors, time limit), and
 * resolving many hosts with one run where the config files cannot tell them apart, each answer
 * cached: without a file (`-F none`) one run serves every host (but an address ssh rewrites,
 * keptAsWritten); with files, one run serves each group of hosts that match the same `Host`
 * lines (ssh-config-groups.ts says which, and when a host is asked about alone). Either way only
 * `host`, `hostname` and `port` are overlaid on the shared answer (`answerFor`), and a shared
 * answer that fails is asked again for each host.
 *
 * Two things `ssh -G` (OpenSSH 9.2) prints unexpanded are expanded, as ssh does before it uses
 * them: `~` and the `%` tokens in `IdentityFile` and `CertificateFile` (ssh-config-tokens.ts).
 * Known-hosts files and `IdentityAgent` come out of `ssh -G` already expanded.
 */
import { execFile } from 'node:child_process';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { SshClientMissingError, SshConfigError } from '../../errors.ts';
import { showCommand } from '../shell.ts';
import { pushAll } from '../../util/arrays.ts';
import {
  hostGroup,
  jumpsThrough,
  keptAsWritten,
  readTheSameFiles,
  sshConfigShapeOf,
} from './ssh-config-groups.ts';
import type { SshConfigShape } from './ssh-config-groups.ts';
import { localTokenFacts } from './ssh-config-tokens.ts';
import { answerFor, parseSshG, toResolvedConfig } from './ssh-config-values.ts';
import type { ResolvedSshConfig } from './ssh-config-values.ts';

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
  /**
   * Options from the inventory (`ansible_ssh_*args`, desired/ssh-args.ts), before and after
   * `-l`/`-p` as on Ansible's command line; ssh decides which value wins.
   */
  extraArgs?: { before: readonly string[]; after: readonly string[] } | undefined;
  /** The ssh binary; `ssh` on PATH by default. */
  sshBinary?: string | undefined;
  /** Milliseconds before `ssh -G` is given up (a `Match exec` can hang). Default 15 s. */
  timeoutMs?: number | undefined;
}

// ---------------------------------------------------------------------------------------------
// Running ssh -G

/**
 * The `ssh` arguments for `opts` and `host`; the default user config is left to ssh. `verbose`
 * (`-v`): ssh also says on stderr which files it reads.
 */
export function sshGArgs(
  host: string,
  opts: ResolveSshConfigOptions = {},
  verbose = false,
): string[] {
  const args = verbose ? ['-G', '-v'] : ['-G'];
  const file = opts.configFile;
  if (file === false) args.push('-F', 'none');
  else if (file !== undefined && !isDefaultUserConfig(file)) args.push('-F', file);
  pushAll(args, opts.extraArgs?.before ?? []);
  if (opts.user !== undefined) args.push('-l', opts.user);
  if (opts.port !== undefined) args.push('-p', String(opts.port));
  pushAll(args, opts.extraArgs?.after ?? []);
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
  verbose = false,
): Promise<{ stdout: string; stderr: string }> {
  const binary = opts.sshBinary ?? 'ssh';
  const args = sshGArgs(host, opts, verbose);
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
    opts.extraArgs ?? null,
    host,
  ]);
}

/** `resolveSshConfig`, remembered per (binary, file, user, port, host) for this process. */
export function resolveSshConfigCached(
  host: string,
  opts: ResolveSshConfigOptions = {},
): Promise<ResolvedSshConfig> {
  // Without any config file (`-F none`) the host and port change nothing but `host`, `hostname`
  // and `port`: one `ssh -G` serves every host with the same user (measured by the plan and
  // scale benchmarks). Not for a numeric address ssh rewrites (`127.1` → hostname 127.0.0.1).
  if (
    opts.configFile === false &&
    host !== NO_CONFIG_TEMPLATE &&
    opts.extraArgs === undefined &&
    keptAsWritten(host)
  ) {
    const { port, ...rest } = opts;
    return resolveSshConfigCached(NO_CONFIG_TEMPLATE, rest).then((t) =>
      answerFor(t, host, port, localTokenFacts),
    );
  }
  const key = cacheKey(host, opts);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const pending =
    opts.configFile === false ? resolveSshConfig(host, opts) : resolveGrouped(host, opts);
  cache.set(key, pending);
  // A failure is not remembered: the next call asks ssh again.
  pending.catch(() => cache.delete(key));
  return pending;
}

/** The host `ssh -G -F none` is asked about once, for every host resolved without a config. */
const NO_CONFIG_TEMPLATE = 'kpfleet-no-config.invalid';

/** Per (binary, file): the files read once, and whether ssh reads the same ones. */
const shapes = new Map<string, Promise<SshConfigShape>>();
/** Per group: the first host's `ssh -G` answer, shared by the others. */
const templates = new Map<string, Promise<ResolvedSshConfig>>();

/**
 * The config files for `opts`, read once per run; grouping is kept only when `ssh -v -G` (once,
 * for the first host asked about) says it reads no file that kpfleet did not read.
 */
function shapeOf(host: string, opts: ResolveSshConfigOptions): Promise<SshConfigShape> {
  const given = opts.configFile;
  const file = typeof given === 'string' && !isDefaultUserConfig(given) ? given : undefined;
  const key = JSON.stringify([opts.sshBinary ?? 'ssh', file ?? null]);
  let shape = shapes.get(key);
  if (shape === undefined) {
    const read = sshConfigShapeOf(file);
    shape = read.groupable
      ? runSshG(host, opts, true).then(
          ({ stderr }): SshConfigShape =>
            readTheSameFiles(read, stderr, process.cwd())
              ? read
              : { groupable: false, why: 'ssh read a file kpfleet did not' },
          (): SshConfigShape => ({ groupable: false, why: 'ssh -v -G failed' }),
        )
      : Promise.resolve(read);
    shapes.set(key, shape);
  }
  return shape;
}

/** `host` resolved with its group's answer, or alone when its group cannot be known. */
async function resolveGrouped(
  host: string,
  opts: ResolveSshConfigOptions,
): Promise<ResolvedSshConfig> {
  const extra = opts.extraArgs;
  const alone = extra !== undefined && extra.before.length + extra.after.length > 0;
  const group = alone ? undefined : hostGroup(await shapeOf(host, opts), host);
  if (group === undefined) return resolveSshConfig(host, opts);
  const key = JSON.stringify([
    cacheKey('', { ...opts, port: undefined }),
    opts.port === undefined,
    group,
  ]);
  const shared = templates.get(key);
  if (shared === undefined) {
    const own = resolveSshConfig(host, opts);
    templates.set(key, own);
    own.catch(() => templates.delete(key));
    return own;
  }
  // the first host's error is its own; a host its group jumps through would loop: asked alone
  const template = await shared.catch(() => undefined);
  if (template === undefined || jumpsThrough(template, host)) return resolveSshConfig(host, opts);
  return answerFor(template, host, opts.port, localTokenFacts);
}

/** Forget every cached resolution (after the config file changed, and between tests). */
export function clearSshConfigCache(): void {
  cache.clear();
  shapes.clear();
  templates.clear();
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

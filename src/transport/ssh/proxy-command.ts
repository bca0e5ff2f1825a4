/**
 * `ProxyCommand`, run as OpenSSH runs it (sshconnect.c, ssh_proxy_connect): the `%` tokens
 * expanded (ssh_config(5), TOKENS: `%%`, `%h`, `%k`, `%n`, `%p`, `%r`), then
 * `$SHELL -c "exec <command>"` (/bin/sh when SHELL is unset or empty); its stdin and stdout are
 * the SSH connection (ssh2's `sock`); its stderr is kept to explain a failed connection. It is
 * stopped as ssh stops it (stdin closed, SIGHUP) when the connection closes or fails.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';

/** What the tokens of a ProxyCommand stand for. */
export interface ProxyTokens {
  /** %h: the host name to connect to (after HostName). */
  hostname: string;
  /** %n: the host as kpfleet asked ssh about it (the inventory's address). */
  originalHost: string;
  /** %k: HostKeyAlias, else %n. */
  hostKeyAlias: string | undefined;
  /** %p */
  port: number;
  /** %r */
  user: string;
}

/**
 * Shell syntax, blanks, control characters and a leading `-`: a host or user name with one would
 * change the command it is put into (the inventory is the repository's), as OpenSSH 9.6 refuses
 * them in names from the command line (CVE-2023-51385).
 */
const UNSAFE = /^-|['"`$\\;&<>|(){}*?[\]!#~\s\p{Cc}]/u;

/** Whether a host or user name could change a shell command it is put into. */
export function unsafeInShell(name: string): boolean {
  return UNSAFE.test(name);
}

/**
 * `%` tokens expanded; an unknown one throws, as ssh's percent_expand refuses it, and so does a
 * name that is unsafe in a shell command.
 */
export function expandProxyCommand(command: string, t: ProxyTokens): string {
  const tokens: Record<string, string> = {
    '%': '%',
    h: t.hostname,
    k: t.hostKeyAlias ?? t.originalHost,
    n: t.originalHost,
    p: String(t.port),
    r: t.user,
  };
  return command.replace(/%(.?)/g, (_, key: string) => {
    const value = tokens[key];
    if (value === undefined)
      throw new Error(`unknown token %${key} in ProxyCommand (ssh knows %%, %h, %k, %n, %p, %r)`);
    if (key !== '%' && unsafeInShell(value))
      throw new Error(`%${key} would put ${JSON.stringify(value)} into a shell command`);
    return value;
  });
}

export interface ProxyExit {
  code: number | null;
  signal: string | null;
  /** Set when the shell itself could not be started. */
  error?: string;
}

export interface ProxyProcess {
  readonly command: string;
  /** The SSH connection: the command's stdout (read) and stdin (write). */
  readonly sock: Duplex;
  /** How it ended, once it has. */
  readonly exited: Promise<ProxyExit>;
  /** The end of what it wrote on stderr (at most 4 KiB), trimmed. */
  stderr(): string;
  /** Closes its stdin and sends SIGHUP (SIGKILL 2 s later if it is still there). */
  stop(): void;
}

const STDERR_KEEP = 4096;

/**
 * The proxy's stdout and stdin as one stream. What it writes is kept until ssh2 reads it, its end
 * is the connection's end (ssh2: "Connection lost before handshake", or a close), even when it
 * ends before ssh2 starts reading; a write to a proxy that is gone is dropped, as the end follows.
 */
class ProxySocket extends Duplex {
  private readonly out: Readable;
  private readonly in: Writable;
  constructor(out: Readable, input: Writable) {
    super();
    this.out = out;
    this.in = input;
    input.on('error', () => undefined);
    out.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) out.pause();
    });
    out.on('end', () => this.push(null));
    out.on('error', () => this.push(null));
  }
  override _read(): void {
    this.out.resume();
  }
  override _write(chunk: Buffer, _: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.in.writable) this.in.write(chunk, () => done());
    else done();
  }
  override _final(done: (err?: Error | null) => void): void {
    this.in.end();
    done();
  }
}

/** Starts `command` (already expanded) through the user's shell, as ssh does. */
export function startProxyCommand(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): ProxyProcess {
  const shell = env.SHELL !== undefined && env.SHELL !== '' ? env.SHELL : '/bin/sh';
  const child = spawn(shell, ['-c', `exec ${command}`], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err = (err + c).slice(-STDERR_KEEP);
  });
  let exit: ProxyExit | undefined;
  const exited = new Promise<ProxyExit>((resolve) => {
    child.once('error', (e) => {
      exit ??= { code: null, signal: null, error: `cannot run ${shell}: ${e.message}` };
      resolve(exit);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  const sock = new ProxySocket(child.stdout, child.stdin);
  return {
    command,
    sock,
    exited,
    stderr: () => err.trim(),
    stop: () => {
      if (exit !== undefined) return;
      child.stdin.end();
      child.kill('SIGHUP');
      setTimeout(() => {
        if (exit === undefined) child.kill('SIGKILL');
      }, 2000).unref();
    },
  };
}

/**
 * Why a connection through the proxy failed, in words: how the command ended (waiting up to
 * `waitMs` for it to end on its own) and the last lines of its stderr.
 */
export async function describeProxyEnd(proxy: ProxyProcess, waitMs = 1000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const end = await Promise.race([
    proxy.exited,
    new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), waitMs))),
  ]);
  clearTimeout(timer);
  const how =
    end === undefined
      ? 'was still running'
      : end.error !== undefined
        ? end.error
        : end.signal !== null
          ? `was killed by ${end.signal}`
          : `exited with ${String(end.code)}`;
  // its last lines, on one line
  const said = proxy.stderr().split(/\r?\n/).filter(Boolean).slice(-5).join(' / ');
  return `ProxyCommand \`${proxy.command}\` ${how}${said === '' ? '' : `, saying: ${said}`}`;
}

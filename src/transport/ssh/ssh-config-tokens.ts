/**
 * The `~`, `${ENV}` and `%` tokens of ssh_config path options (IdentityFile, CertificateFile),
 * expanded as ssh expands them: `ssh -G` prints these unexpanded. Pure but for
 * `localTokenFacts`, which reads the local user and host name.
 */
import { createHash } from 'node:crypto';
import { hostname as localHostname, userInfo } from 'node:os';

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

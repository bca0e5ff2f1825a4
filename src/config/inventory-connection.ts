/**
 * The inventory variables kpfleet connects with, checked for every host as Ansible's ssh plugin
 * would use them (docs/config.md, "Inventory variables"): of `ansible_host`/`ansible_ssh_host`
 * (user, port, key) only the value that wins, each rendered first (a template kpfleet does not
 * render is refused), the ssh arguments read option by option. Each finding is at the
 * file:line:col where the value was written (the INI or YAML inventory, a group_vars/ or
 * host_vars/ file), one diagnostic per written value, naming the hosts it affects. An error stops
 * only the hosts kpfleet would touch (`touched`); for the others it is a warning, and those hosts
 * are not contacted (`blocksHosts`). Pure.
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { ConnectionSetting } from '../desired/connection.ts';
import { CONNECTION_VARS, renderVar, winningName } from '../desired/connection.ts';
import { hostAddressProblem } from '../desired/connection-values.ts';
import { readSshArgs, SSH_ARGS_VARS, type SshArgsReading } from '../desired/ssh-args.ts';
import type { Inventory, InventoryHost } from '../inventory/types.ts';
import { hostVarSources } from '../inventory/vars.ts';
import { groupGraph } from '../inventory/graph.ts';
import { isSecret, redactSecrets } from '../util/secrets.ts';
import { scalarText, showValue } from '../util/show.ts';
import type { Finding, KeyFileProblem } from './connection-vars.ts';
import { ADDRESS_HINT, CHECKS, KEY_VARS, keyFileFinding, LITERAL_VARS } from './connection-vars.ts';

/** What the checks need beyond the inventory (the loader gathers it). */
export interface InventoryConnectionInput {
  /** Whether kpfleet would contact the host: a group of kpfleet.yml selects it. */
  touched: (host: string) => boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** A private key file as the inventory writes it (relative to the working directory). */
  keyFile?: KeyFileProblem;
  /** A relative key path found beside kpfleet.yml but not in the working directory. */
  keyOnlyInProject?: (written: string) => boolean;
  /**
   * A ProxyCommand in the inventory may run, and an IdentityAgent choose the agent socket:
   * `--trust-ssh-config`, or an inventory outside the project.
   */
  trustCommands: boolean;
}

const TEMPLATE_HINT =
  "kpfleet renders {{ var }} (a variable of the host), {{ lookup('env', 'NAME') }}, | default(...) and literal text around one {{ ... }}; write the value itself otherwise";
const NOT_CONTACTED =
  'no group of kpfleet.yml selects them, so kpfleet does not contact them (a warning, not an error)';

type Site = { file: string; line?: number; col?: number };
/** A variable's value rendered, and how a message shows it (never what the environment gave). */
type Shown = { text: string; shown: string; hidden: boolean };

const SETTING_OF = new Map<string, ConnectionSetting>(
  Object.entries(CONNECTION_VARS).flatMap(([s, names]) =>
    names.map((n) => [n, s as ConnectionSetting] as const),
  ),
);

export function checkConnectionVars(inv: Inventory, input: InventoryConnectionInput): Diagnostic[] {
  const found = new Map<string, { d: Diagnostic; hosts: string[]; perHost: boolean }>();
  const add = (
    at: Site,
    f: Finding,
    host: string,
    severity: Diagnostic['severity'] = 'error',
    perHost = true,
  ): void => {
    const key = `${at.file}:${String(at.line)}:${String(at.col)}\0${f.message}`;
    const known = found.get(key);
    if (known) {
      known.hosts.push(host);
      return;
    }
    const d: Diagnostic = {
      severity,
      code: 'inventory/host-var',
      message: f.message,
      file: at.file,
    };
    if (at.line !== undefined) d.pos = { line: at.line, col: at.col ?? 1 };
    if (f.hint !== undefined) d.hint = f.hint;
    found.set(key, { d, hosts: [host], perHost });
  };
  const graph = groupGraph(inv);
  for (const [name, h] of inv.hosts) {
    const sources = hostVarSources(inv, name, graph);
    const vars = Object.fromEntries([...sources].map(([k, s]) => [k, s.value]));
    const siteOf = (key: string): Site => sources.get(key)?.site ?? hostSite(inv, h);
    const value = (key: string): unknown => sources.get(key)?.value;
    /** The variable rendered, or undefined after reporting why it cannot be. */
    const rendered = (key: string): Shown | undefined => {
      const r = renderVar(name, vars, key, input.env);
      if (r === undefined) return undefined;
      const written = scalarText(value(key));
      if (written === undefined) {
        add(
          siteOf(key),
          { message: `${key} must be a string, not ${showValue(value(key))}` },
          name,
        );
        return undefined;
      }
      if (!r.ok) {
        const message = `${key} ${showValue(written)} is a template kpfleet cannot render: ${r.why}`;
        add(siteOf(key), { message, hint: TEMPLATE_HINT }, name);
        return undefined;
      }
      const shown =
        written === r.value
          ? showValue(written)
          : `${showValue(written)} (${r.fromEnv ? 'rendered from the environment' : `rendered as ${showValue(r.value)}`})`;
      // from the environment, or holding a value decrypted from a vault: never quoted in part
      const hidden = r.fromEnv || isSecret(written) || redactSecrets(r.value) !== r.value;
      return { text: r.value, shown, hidden };
    };
    for (const key of sources.keys()) {
      const setting = SETTING_OF.get(key);
      // of two names of one setting, Ansible uses the last one set: only that one is checked
      if (setting !== undefined && winningName(value, setting) !== key) continue;
      const check = CHECKS[key];
      if (setting === undefined && check === undefined) continue;
      const raw = value(key);
      // only text is templated (not kpfleet's own variables): a number or a list is checked as written
      const r =
        typeof raw !== 'string' || LITERAL_VARS.has(key)
          ? { text: raw, shown: showValue(raw) }
          : rendered(key);
      if (r === undefined) continue;
      const f = KEY_VARS.has(key)
        ? keyFileFinding(key, r.text, input.keyFile)
        : check?.(key, r.text);
      const prefix = `${key} ${showValue(r.text)}`;
      if (f) {
        const message = f.message.startsWith(prefix)
          ? `${key} ${r.shown}${f.message.slice(prefix.length)}`
          : f.message;
        add(siteOf(key), { ...f, message }, name);
      }
      if (KEY_VARS.has(key) && typeof r.text === 'string' && input.keyOnlyInProject?.(r.text)) {
        add(
          siteOf(key),
          {
            message: `${key} ${r.shown} is relative: ssh (as Ansible runs it, and kpfleet) looks for it in the working directory, where it is not; it exists beside kpfleet.yml`,
            hint: 'run kpfleet from the folder the inventory expects, or write the path absolute or from ~/',
          },
          name,
          'warning',
        );
      }
    }
    checkSshArgs(name, rendered, siteOf, input, add);
    // the inventory name is the address when no ansible_host is set, or it renders to nothing
    const winner = winningName(value, 'address');
    const own = winner === undefined ? undefined : renderVar(name, vars, winner, input.env);
    const address = own !== undefined && (!own.ok || own.value !== '');
    const why = address ? undefined : hostAddressProblem(name);
    if (why !== undefined) {
      const message = `the address of host ${showValue(name)} (its name: it has no ansible_host) is not a host name or IP address: ${why}`;
      add(
        hostSite(inv, h),
        { message, hint: `set ansible_host: ${ADDRESS_HINT}` },
        name,
        'error',
        false,
      );
    }
  }
  return [...found.values()].map(({ d, hosts, perHost }) => {
    const shown =
      hosts.slice(0, 3).join(', ') +
      (hosts.length > 3 ? ` and ${String(hosts.length - 3)} more` : '');
    let message = perHost
      ? `${d.message} (${hosts.length === 1 ? 'host' : 'hosts'} ${shown})`
      : d.message;
    if (d.severity !== 'error') return { ...d, message };
    const out: Diagnostic = { ...d, blocksHosts: hosts };
    if (!hosts.some(input.touched)) {
      message += `; ${NOT_CONTACTED}`;
      out.severity = 'warning';
    }
    return { ...out, message };
  });
}

/** What an inventory of the project may set only with `--trust-ssh-config`, as an ssh config may. */
const NEEDS_TRUST: { set: (r: SshArgsReading) => boolean; what: string; instead: string }[] = [
  {
    set: (r) => r.command !== undefined,
    what: '`ProxyCommand` runs a command on this machine',
    instead: 'use -J / ProxyJump, or put the ProxyCommand in ~/.ssh/config',
  },
  {
    set: (r) => r.agent !== undefined,
    what: '`IdentityAgent` chooses the local socket kpfleet asks to sign with your keys',
    instead: 'set IdentityAgent in ~/.ssh/config, or SSH_AUTH_SOCK in the environment',
  },
];
const TRUST_HINT =
  'an operator who has read it passes --trust-ssh-config (never in a pull-request job)';

/** The ssh arguments of one host, each refused or set-aside option at its variable. */
function checkSshArgs(
  host: string,
  rendered: (key: string) => Shown | undefined,
  siteOf: (key: string) => Site,
  input: InventoryConnectionInput,
  add: (at: Site, f: Finding, host: string, severity?: Diagnostic['severity']) => void,
): void {
  for (const key of SSH_ARGS_VARS) {
    const r = rendered(key);
    if (r === undefined) continue;
    const read = readSshArgs([r.text]);
    // a value rendered from the environment or a vault is never quoted, nor a reason that quotes
    // part of it
    for (const x of read.refused) {
      const f: Finding = {
        message: r.hidden
          ? `${key} ${r.shown}: an option in it is refused (kpfleet does not apply it, or cannot use its value)`
          : `${key}: ${showValue(x.option)} is refused: ${x.why}`,
      };
      if (x.hint !== undefined) f.hint = x.hint;
      add(siteOf(key), f, host);
    }
    for (const x of read.ignored) {
      add(
        siteOf(key),
        {
          message: `${key}: ${r.hidden ? `an option of ${r.shown}` : showValue(x)} is set aside: kpfleet keeps one connection per host and does not compress`,
        },
        host,
        'warning',
      );
    }
    if (input.trustCommands) continue;
    for (const n of NEEDS_TRUST) {
      if (!n.set(read)) continue;
      const message = `${key}: ${n.what}, and the inventory is a file of the project`;
      add(siteOf(key), { message, hint: `${TRUST_HINT}; or ${n.instead}` }, host);
    }
  }
}

/** Where a host is defined: the fallback position for a value written without one. */
function hostSite(inv: Inventory, h: InventoryHost): Site {
  return h.line === undefined
    ? { file: inv.file }
    : { file: inv.file, line: h.line, col: h.col ?? 1 };
}

/** `kpfleet facts`: what each host runs, as text or JSON. Secrets are never part of facts. */
import type { ManagerSetting } from '../config-model.ts';
import type { HostFactsResult } from '../facts/gather.ts';
import { sharedFunctions } from '../facts/functions.ts';
import { DEFAULT_MANAGER, managerWords, resolveManager } from '../facts/manager.ts';
import type { HostFacts } from '../facts/model.ts';
import { refusesUnsigned } from '../facts/security.ts';
import type { Finding } from '../plan/model.ts';
import { PROSE_KEYS, oneLine, safeData, safeText } from './safe-text.ts';
import type { Style } from './style.ts';

/** Findings per host that facts alone show (reboot due: `plan/plan.ts` `rebootDue`). */
export type FactsNotes = ReadonlyMap<string, readonly Finding[]>;

/** Each host's manager setting (`desired/resolve.ts`); a host not in it: auto, the default. */
export type ManagerSettings = ReadonlyMap<string, ManagerSetting>;

/** The host's manager as its setting resolves it, and what auto would choose (facts/manager.ts). */
function managerOf(host: string, facts: HostFacts, settings: ManagerSettings | undefined) {
  const setting = settings?.get(host) ?? DEFAULT_MANAGER;
  return {
    resolved: resolveManager(setting, facts),
    auto: resolveManager(DEFAULT_MANAGER, facts),
  };
}

/**
 * `manager klp (auto: no kpatch utility)`; a setting that is not auto also says what auto would
 * choose where that differs: `manager klp (group web); auto would choose kpatch 0.9.11`.
 */
export function factsManagerWords(
  host: string,
  facts: HostFacts,
  settings?: ManagerSettings,
): string {
  const { resolved, auto } = managerOf(host, facts, settings);
  const own = `manager ${managerWords(resolved)}`;
  return auto.manager === resolved.manager
    ? own
    : `${own}; auto would choose ${managerWords(auto)}`;
}

export function factsJson(
  results: readonly HostFactsResult[],
  notes?: FactsNotes,
  settings?: ManagerSettings,
): unknown {
  return {
    version: 1,
    hosts: results.map((r) =>
      r.ok
        ? {
            host: r.host,
            ok: true,
            manager: managerOf(r.host, r.facts, settings).resolved,
            facts: r.facts,
            findings: notes?.get(r.host) ?? [],
          }
        : {
            host: r.host,
            ok: false,
            error: {
              code: r.error.code,
              message: r.error.message,
              hint: r.error.hint ?? null,
              step: r.error.step ?? null,
            },
          },
    ),
  };
}

export function renderFacts(
  results: readonly HostFactsResult[],
  style: Style,
  notes?: FactsNotes,
  settings?: ManagerSettings,
): string {
  const out: string[] = [];
  for (const r of results) {
    const host = safeText(r.host);
    if (!r.ok) {
      const e = r.error;
      out.push(`${style.bold(host)}  ${style.red(`${safeText(e.code)}: ${oneLine(e.message)}`)}`);
      if (e.hint !== undefined) out.push(`  ${style.cyan('hint')}: ${oneLine(e.hint)}`);
      out.push('');
      continue;
    }
    // Everything below came from the host: every string is made safe to print first.
    const f = safeData(r.facts);
    const kpatch = f.kpatch.installed
      ? `kpatch ${f.kpatch.version ?? '?'}`
      : style.yellow('kpatch not installed');
    const lp = f.livepatchSupported ? '' : `  ${style.yellow('no livepatch in this kernel')}`;
    out.push(
      `${style.bold(host)}  ${f.kernel} ${f.arch}  ${kpatch}  ${f.os.prettyName ?? ''}${lp}`,
    );
    out.push(`  ${oneLine(factsManagerWords(r.host, f, settings))}`);
    for (const p of f.patches) {
      const state =
        p.transition === true
          ? style.yellow(p.enabled ? 'enabling' : 'disabling')
          : p.enabled
            ? style.green('enabled')
            : style.yellow('disabled');
      const order =
        p.stackOrder === undefined ? '' : `  ${style.dim(`stack_order ${String(p.stackOrder)}`)}`;
      out.push(`  loaded     ${p.name}  ${state}${order}`);
    }
    // several enabled patches change one function: the one highest in the stack runs (§5.1)
    for (const sf of sharedFunctions(f.patches)) {
      out.push(
        `  function   ${sf.key}  ${sf.patches.join(', ')}  ${sf.winner !== undefined ? `→ ${sf.winner} runs (stack_order)` : style.dim('(which one runs is unknown: no stack_order before 6.13)')}`,
      );
    }
    if (f.transition) {
      const t = f.transition;
      const tasks = t.tasks.map((x) => `${String(x.pid)} ${x.comm}`).join(', ');
      out.push(
        `  ${style.yellow('transition')} ${t.patch} ${t.enabling ? 'enabling' : 'disabling'}: ${tasks ? `held up by ${tasks}` : t.tasksComplete ? 'no task left' : 'tasks need root to see'}`,
      );
    }
    const inSysfs = new Set(f.patches.map((p) => p.name));
    for (const m of f.modules.filter((m) => !inSysfs.has(m.name))) {
      out.push(
        `  leftover   ${m.name}  ${style.dim(`refcnt ${String(m.refcnt ?? '?')} (replaced; still in memory)`)}`,
      );
    }
    for (const list of [f.installed, f.rpmInstalled]) {
      for (const i of list) {
        out.push(
          `  installed  ${i.module}  ${style.dim(`${i.kernel}/${i.file} sha256 ${i.sha256.slice(0, 12)}…`)}`,
        );
      }
    }
    // the klp manager's store (docs/klp-behaviour.md §K.1), marked as such
    for (const i of f.klp?.store ?? []) {
      out.push(
        `  installed  ${i.module}  ${style.dim(`${i.kernel}/${i.file} sha256 ${i.sha256.slice(0, 12)}… (klp store)`)}`,
      );
    }
    for (const p of f.packages) out.push(`  package    ${p}`);
    out.push(
      `  kpatch.service: ${f.service.present ? (f.service.enabled ? 'enabled' : f.service.state || 'disabled') : 'absent'}${f.kpatchDisabledAtBoot ? style.yellow('  (kpatch.enable=0 on the kernel command line)') : ''}`,
    );
    const klpBoot = f.klp?.boot;
    if (klpBoot !== undefined && (klpBoot.enabled || klpBoot.current || !f.kpatch.installed)) {
      const state = !klpBoot.systemctl
        ? style.yellow('no systemctl')
        : klpBoot.enabled && klpBoot.current
          ? 'enabled'
          : klpBoot.enabled
            ? style.yellow("enabled, but its files are not this kpfleet's")
            : 'not set up';
      const off = /(^|\s)kpfleet\.enable=0(\s|$)/.test(f.cmdline)
        ? style.yellow('  (kpfleet.enable=0 on the kernel command line)')
        : '';
      out.push(`  kpfleet-klp.service: ${state}${off}`);
    }
    const onOff = (b: boolean | undefined): string => (b === undefined ? '?' : b ? 'on' : 'off');
    const refuses = refusesUnsigned(f);
    out.push(
      `  security: lockdown ${f.security.lockdown ?? '?'}, sig_enforce ${onOff(f.security.sigEnforce)}, Secure Boot ${onOff(f.security.secureBoot)}${refuses === true ? style.yellow('  (unsigned modules are refused)') : refuses === undefined ? style.dim('  (whether unsigned modules load is unknown)') : ''}`,
    );
    for (const n of safeData(notes?.get(r.host) ?? [], PROSE_KEYS))
      out.push(`  ${style.yellow('!')} ${oneLine(n.message)}`);
    out.push('');
  }
  const failed = results.filter((r) => !r.ok).length;
  out.push(
    `${String(results.length)} host${results.length === 1 ? '' : 's'}${failed ? `, ${style.red(`${String(failed)} failed`)}` : ''}`,
  );
  return out.join('\n');
}

/**
 * One SSH connection per host per run: `apply` without a saved plan reads each host's facts for
 * its plan, then changes the hosts that need it. The plan's connection of a host with changes is
 * kept (`keep`) and handed to the apply when it opens that host (`open`), so the host sees one
 * login. Whatever is still kept when the run ends (a prompt answered "no", `--check`, a halted
 * wave, an interrupt) is closed by `closeAll`.
 *
 * Bounded: at most `max` connections are kept at once (each holds a socket, ssh2's state and
 * possibly a ProxyCommand process), by default what the open-files limit allows (`keepBound`);
 * the hosts past it are logged in to again for the apply. Which ones are kept, when more hosts
 * have changes than that: the first in the plan's order (`keep`'s `order`, the host's place in the
 * selection), since the apply's waves are taken from the plan in that order and run in it: the
 * earliest waves' hosts, which the apply opens first (and a connection kept for a later wave
 * would wait longest, through the earlier waves). Facts arrive in any order (`forks` at once), so
 * a host that comes earlier in the plan than the last one kept takes its place: that one is
 * closed at once and logged in to again for its apply. Not bounded by `forks`: every host kept
 * is one login fewer, whatever the apply's parallelism. A
 * kept connection that dies while it waits (a long prompt, a host's idle timeout despite the
 * keepalives) is set up again by the transport on its next command: a second login, never a
 * failure.
 */
import { readFileSync } from 'node:fs';
import type { HostConnection } from '../connection.ts';
import type { HostPlan } from '../plan/model.ts';
import type { OpenTransport, Transport } from '../transport/transport.ts';

/** How many plan connections a run keeps for its apply, at most. */
export const KEEP_MAX = 1000;

/**
 * How many to keep under this process's limit of open files (the soft `Max open files` of
 * /proc/self/limits, as Node left it: it raises the soft limit to the hard one at start, so this
 * binds where the hard limit is low, 1,024 on some systems and containers): a quarter of what is
 * left after 256 for everything else (the apply's own new connections, files, a ProxyCommand's
 * pipes), at most KEEP_MAX. Where the limit cannot be read, KEEP_MAX.
 */
export function keepBound(limits = readLimits()): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  if (soft === undefined || soft === 'unlimited') return KEEP_MAX;
  return Math.max(0, Math.min(KEEP_MAX, Math.floor((Number(soft) - 256) / 4)));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}

export interface RunConnections {
  /** The host's kept connection (handed over once), else a new one. */
  open: OpenTransport;
  /**
   * Keeps the connection of a host whose plan has changes, `order` its place in the plan: whether
   * it did. At the bound, the kept host latest in the plan gives way to an earlier one (closed).
   */
  keep: (t: Transport, plan: HostPlan, order: number) => boolean;
  /** How many are kept now. */
  readonly size: number;
  /** Closes every connection still kept. */
  closeAll(): Promise<void>;
}

export function runConnections(open: OpenTransport, max = keepBound()): RunConnections {
  const kept = new Map<string, { t: Transport; order: number }>();
  /** Connections that gave way to an earlier host's, being closed. */
  const closing = new Set<Promise<void>>();
  const close = (t: Transport): void => {
    const p = t.close().catch(() => undefined);
    closing.add(p);
    void p.then(() => closing.delete(p));
  };
  return {
    open: async (conn: HostConnection) => {
      const k = kept.get(conn.host);
      if (k === undefined) return open(conn);
      kept.delete(conn.host);
      return k.t;
    },
    keep: (t, plan, order) => {
      if (plan.status !== 'changes' || kept.has(t.host)) return false;
      if (kept.size >= max) {
        // the kept host latest in the plan (the last wave among them) gives way to an earlier one
        let last: [string, { t: Transport; order: number }] | undefined;
        for (const e of kept) if (last === undefined || e[1].order > last[1].order) last = e;
        if (last === undefined || last[1].order <= order) return false;
        kept.delete(last[0]);
        close(last[1].t);
      }
      kept.set(t.host, { t, order });
      return true;
    },
    get size() {
      return kept.size;
    },
    closeAll: async () => {
      const all = [...kept.values()];
      kept.clear();
      await Promise.all(all.map((k) => k.t.close().catch(() => undefined)));
      await Promise.all([...closing]);
    },
  };
}

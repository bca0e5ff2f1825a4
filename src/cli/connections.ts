/**
 * One SSH connection per host per run: `apply` without a saved plan reads each host's facts for
 * its plan, then changes the hosts that need it. The plan's connection of a host with changes is
 * kept (`keep`) and handed to the apply when it opens that host (`open`), so the host sees one
 * login. Whatever is still kept when the run ends (a prompt answered "no", `--check`, a halted
 * wave, an interrupt) is closed by `closeAll`.
 *
 * Bounded: at most `max` connections are kept at once (each holds a socket, ssh2's state and
 * possibly a ProxyCommand process); the hosts past it are logged in to again for the apply. A
 * kept connection that dies while it waits (a long prompt, a host's idle timeout despite the
 * keepalives) is set up again by the transport on its next command: a second login, never a
 * failure.
 */
import type { HostConnection } from '../connection.ts';
import type { HostPlan } from '../plan/model.ts';
import type { OpenTransport, Transport } from '../transport/transport.ts';

/** How many plan connections a run keeps for its apply, by default. */
export const KEEP_MAX = 1000;

export interface RunConnections {
  /** The host's kept connection (handed over once), else a new one. */
  open: OpenTransport;
  /** Keeps the connection of a host whose plan has changes, below the bound: whether it did. */
  keep: (t: Transport, plan: HostPlan) => boolean;
  /** How many are kept now. */
  readonly size: number;
  /** Closes every connection still kept. */
  closeAll(): Promise<void>;
}

export function runConnections(open: OpenTransport, max = KEEP_MAX): RunConnections {
  const kept = new Map<string, Transport>();
  return {
    open: async (conn: HostConnection) => {
      const t = kept.get(conn.host);
      if (t === undefined) return open(conn);
      kept.delete(conn.host);
      return t;
    },
    keep: (t, plan) => {
      if (plan.status !== 'changes' || kept.size >= max || kept.has(t.host)) return false;
      kept.set(t.host, t);
      return true;
    },
    get size() {
      return kept.size;
    },
    closeAll: async () => {
      const all = [...kept.values()];
      kept.clear();
      await Promise.all(all.map((t) => t.close().catch(() => undefined)));
    },
  };
}

/**
 * One connection per host per run (src/cli/connections.ts): the plan's connection of a host with
 * changes is kept and handed to the apply, once; the rest is closed at once or at the run's end.
 * In process: the kept-connection rules on plain transports, then a plan and an apply over the
 * in-memory hosts (test/unit/apply/memory), counting the connections each host saw.
 */
import { describe, expect, it } from 'vitest';
import { KEEP_MAX, runConnections } from '../../../src/cli/connections.ts';
import type { HostConnection } from '../../../src/connection.ts';
import type { HostPlan, HostStatus } from '../../../src/plan/model.ts';
import type { Transport } from '../../../src/transport/transport.ts';
import { apply, filePatch, MemoryFleet } from '../apply/memory/harness.ts';

/** A transport that only records its closing. */
function transport(host: string, closed: string[]): Transport {
  const no = () => Promise.reject(new Error('not used'));
  return {
    host,
    exec: no,
    upload: no,
    hold: no,
    close: () => {
      closed.push(host);
      return Promise.resolve();
    },
  };
}

const plan = (host: string, status: HostStatus): HostPlan => ({
  host,
  status,
  groups: [],
  reason: '',
  changes: [],
  findings: [],
  cves: [],
});

describe('the connections of a run', () => {
  it('keeps only a host with changes, hands it over once, and closes what is left', async () => {
    const closed: string[] = [];
    const opened: string[] = [];
    const conns = runConnections((c) => {
      opened.push(c.host);
      return Promise.resolve(transport(c.host, closed));
    });
    const a = transport('a', closed);
    expect(conns.keep(a, plan('a', 'changes'))).toBe(true);
    for (const status of ['converged', 'blocked', 'error', 'unreachable'] as const)
      expect(conns.keep(transport('b', closed), plan('b', status)), status).toBe(false);
    expect(conns.keep(transport('c', closed), plan('c', 'changes'))).toBe(true);
    expect(conns.size).toBe(2);

    expect(await conns.open({ host: 'a' } as never)).toBe(a);
    expect(opened).toEqual([]);
    // handed over once: the next open of the same host logs in again
    expect(await conns.open({ host: 'a' } as never)).not.toBe(a);
    expect(opened).toEqual(['a']);

    await conns.closeAll();
    expect(closed).toEqual(['c']);
    expect(conns.size).toBe(0);
  });

  it('keeps at most its bound; past it the host is logged in to again', async () => {
    expect(KEEP_MAX).toBeGreaterThan(0);
    const closed: string[] = [];
    const conns = runConnections(() => Promise.reject(new Error('no host')), 2);
    expect(conns.keep(transport('a', closed), plan('a', 'changes'))).toBe(true);
    expect(conns.keep(transport('b', closed), plan('b', 'changes'))).toBe(true);
    expect(conns.keep(transport('c', closed), plan('c', 'changes'))).toBe(false);
    await expect(conns.open({ host: 'c' } as never)).rejects.toThrow('no host');
  });
});

describe('a plan then its apply in one run', () => {
  const CVE = filePatch('cve-2024-1086');
  const PROJECT = { patches: [CVE], want: { 'cve-2024-1086': 'loaded' as const } };

  it('changes a host over the connection its plan read the facts on', async () => {
    const fleet = new MemoryFleet(3, PROJECT);
    const conns = runConnections((c) => Promise.resolve(fleet.host(c.host).open()), 2);
    const p = await fleet.plan(conns.keep);
    expect(p.hosts.map((h) => h.status)).toEqual(['changes', 'changes', 'changes']);
    const r = await apply(fleet, p, { open: (h) => conns.open(h as HostConnection) });
    expect(r.results.map((x) => x.outcome)).toEqual(['changed', 'changed', 'changed']);
    // connections opened for the apply: none for the two kept, one for the host past the bound
    expect(fleet.hosts.map((h) => h.connections)).toEqual([0, 0, 1]);
    expect(conns.size).toBe(0);
  });
});

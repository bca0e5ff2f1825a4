/**
 * One connection per host per run (src/cli/connections.ts): the plan's connection of a host with
 * changes is kept and handed to the apply, once; the rest is closed at once or at the run's end.
 * In process: the kept-connection rules on plain transports, then a plan and an apply over the
 * in-memory hosts (test/unit/apply/memory), counting the connections each host saw.
 */
import { describe, expect, it } from 'vitest';
import { KEEP_MAX, keepBound, runConnections } from '../../../src/cli/connections.ts';
import type { HostConnection } from '../../../src/connection.ts';
import type { HostPlan, HostStatus } from '../../../src/plan/model.ts';
import type { Transport } from '../../../src/transport/transport.ts';
import { apply, count, filePatch, MemoryFleet, percent } from '../apply/memory/harness.ts';

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
    expect(conns.keep(a, plan('a', 'changes'), 0)).toBe(true);
    for (const status of ['converged', 'blocked', 'error', 'unreachable'] as const)
      expect(conns.keep(transport('b', closed), plan('b', status), 1), status).toBe(false);
    expect(conns.keep(transport('c', closed), plan('c', 'changes'), 2)).toBe(true);
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
    expect(conns.keep(transport('a', closed), plan('a', 'changes'), 0)).toBe(true);
    expect(conns.keep(transport('b', closed), plan('b', 'changes'), 1)).toBe(true);
    expect(conns.keep(transport('c', closed), plan('c', 'changes'), 2)).toBe(false);
    await expect(conns.open({ host: 'c' } as never)).rejects.toThrow('no host');
  });

  it('at its bound, keeps the hosts first in the plan (the earliest waves), whatever order their facts came in', async () => {
    const closed: string[] = [];
    const conns = runConnections(() => Promise.reject(new Error('no host')), 2);
    const t = new Map(['a', 'b', 'c', 'd', 'e'].map((h) => [h, transport(h, closed)]));
    const keep = (h: string, order: number) =>
      conns.keep(t.get(h) as Transport, plan(h, 'changes'), order);
    expect(keep('c', 2)).toBe(true);
    expect(keep('d', 3)).toBe(true);
    // a comes first in the plan: d, the last kept, gives way (closed at once)
    expect(keep('a', 0)).toBe(true);
    // e comes after both kept: not kept
    expect(keep('e', 4)).toBe(false);
    expect(keep('b', 1)).toBe(true);
    expect(conns.size).toBe(2);
    // d gave way to a, then c to b (e, never kept, is the planner's to close)
    expect(closed).toEqual(['d', 'c']);
    // the apply's first hosts are the kept ones
    const kept = [
      await conns.open({ host: 'a' } as never),
      await conns.open({ host: 'b' } as never),
    ];
    expect(kept).toEqual([t.get('a'), t.get('b')]);
    await conns.closeAll();
    expect(closed).toEqual(['d', 'c']);
  });
});

describe('the bound follows the open-files limit', () => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                524288               files\n`;
  it('a quarter of what 256 leave, at most KEEP_MAX; unreadable: KEEP_MAX', () => {
    expect(keepBound(limits('1024'))).toBe(192);
    expect(keepBound(limits('20000'))).toBe(KEEP_MAX);
    expect(keepBound(limits('100'))).toBe(0);
    expect(keepBound(limits('unlimited'))).toBe(KEEP_MAX);
    expect(keepBound('')).toBe(KEEP_MAX);
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

  it('facts that come last-host-first: the hosts of the first waves keep their connection', async () => {
    const fleet = new MemoryFleet(4, PROJECT);
    const conns = runConnections((c) => Promise.resolve(fleet.host(c.host).open()), 2);
    const p = await fleet.plan(conns.keep, { reverse: true });
    expect(p.hosts.map((h) => h.host)).toEqual(['h001', 'h002', 'h003', 'h004']);
    // waves of 1, 1 and 2 hosts: h001 and h002 are the apply's first
    const r = await apply(fleet, p, {
      open: (h) => conns.open(h as HostConnection),
      waves: [count(1), count(2), percent(100)],
    });
    expect(r.results.map((x) => [x.host, x.wave, x.outcome])).toEqual([
      ['h001', 1, 'changed'],
      ['h002', 2, 'changed'],
      ['h003', 3, 'changed'],
      ['h004', 3, 'changed'],
    ]);
    // connections opened for the apply: none for the first waves' two, one each for the others
    expect(fleet.hosts.map((h) => h.connections)).toEqual([0, 0, 1, 1]);
    expect(conns.size).toBe(0);
  });
});

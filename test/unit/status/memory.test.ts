/**
 * What `kpfleet status` holds while it reads a fleet (issue 20: its peak memory at 10,000 hosts):
 * every host's coverage, but none of the hosts' probe output, though the kernel release, the
 * architecture and the OS a coverage keeps are cut out of it (a piece of a V8 string of 13
 * characters or more is a view into the whole).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../../src/facts/parse/facts.ts';
import { SECTION_MARK } from '../../../src/facts/probe.ts';
import type { HostFacts } from '../../../src/facts/model.ts';
import { catalogueCoverage, hostCoverage } from '../../../src/status/host.ts';
import { heapTrimmer } from '../../../src/util/heap.ts';
import { stringPool } from '../../../src/util/text.ts';
import { KERNEL, catalogue, desired, filePatch, plan, want } from '../plan/builders.ts';

const FIX = filePatch('fix', { cves: ['CVE-2024-0001'], released: '2024-01-01' });
const HOSTS = 24;
/** Installed modules listed by each host: about half a megabyte of probe output each. */
const LINES = 4000;

/** A host's probe output, its own (no two hosts list the same files). */
function probeOutput(host: number): string {
  const installed = Array.from({ length: LINES }, (_, j) => {
    const sum = createHash('sha256')
      .update(`${String(host)}/${String(j)}`)
      .digest('hex');
    return `${sum}  /var/lib/kpatch/${KERNEL}/kpatch-m${String(j)}.ko`;
  });
  const sections: Record<string, string> = {
    probe: '1',
    uname: `${KERNEL}\nx86_64`,
    'os-release': 'NAME="Red Hat Enterprise Linux"\nID="rhel-compatible-os"\nVERSION_ID="9.3"',
    cmdline: 'BOOT_IMAGE=/vmlinuz ro quiet',
    tainted: '0',
    'kpatch-version': '0.9.7\nrc=0',
    'kpatch-list': 'Loaded patch modules:\n\nInstalled patch modules:\nrc=0',
    livepatch: 'present',
    modules: '',
    installed: installed.join('\n'),
    'rpm-installed': '',
    service: 'enabled\nrc=0',
    packages: '',
    end: '',
  };
  return Object.entries(sections)
    .map(([name, body]) => `\n${SECTION_MARK} ${name}\n${body}`)
    .join('\n');
}

function factsOf(host: number): HostFacts {
  const r = parseFacts(probeOutput(host));
  if (!r.ok) throw new Error(r.error);
  return r.facts;
}

const collect = heapTrimmer(1);
/** The heap in use after a full collection. */
const used = (): number => {
  collect();
  return process.memoryUsage().heapUsed;
};

/** How much the heap grows while `keep(host)` is held for every host, each read afresh. */
function heldBy(keep: (facts: HostFacts) => unknown): number {
  const before = used();
  const held: unknown[] = [];
  for (let i = 0; i < HOSTS; i++) held.push(keep(factsOf(i)));
  const grown = used() - before;
  expect(held).toHaveLength(HOSTS);
  return grown;
}

describe('a host’s coverage in memory', () => {
  const outputs = HOSTS * probeOutput(0).length;
  const patches = catalogue(FIX);
  const cover = (facts: HostFacts, strings?: (text: string) => string) =>
    hostCoverage({
      desired: desired([want('fix', 'loaded')]),
      facts,
      plan: plan({ patches: [FIX], want: [want('fix', 'loaded')], facts }),
      patches,
      catalogue: catalogueCoverage(patches, {}),
      ...(strings !== undefined ? { strings } : {}),
    });

  it('holds none of the host’s probe output, though its kernel release is cut from it', () => {
    // what a coverage keeps of the facts holds every output as read: the measure sees them (the
    // rest, up to a few percent of it, is the collector's noise)
    expect(heldBy((f) => [f.kernel, f.os.id])).toBeGreaterThan(outputs * 0.8);
    const strings = stringPool();
    cover(factsOf(HOSTS), strings); // compiled before it is measured
    const held = heldBy((f) => cover(f, strings));
    expect(held).toBeLessThan(outputs * 0.25);
    // and without a pool of the run's, each coverage its own
    expect(heldBy((f) => cover(f))).toBeLessThan(outputs * 0.25);
  });

  it('keeps the kernel, architecture and OS as read', () => {
    expect(cover(factsOf(0), stringPool())).toMatchObject({
      kernel: KERNEL,
      arch: 'x86_64',
      os: 'rhel-compatible-os',
    });
  });
});

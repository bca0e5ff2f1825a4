/**
 * From selected hosts to their coverage (`kpfleet status`): read each host's facts as `plan` does
 * (same selection, same SSH, read-only), plan each host to know what is pending or blocked, and
 * say per host, group and CVE what is live and until when. No printing, no exit codes.
 */
import { buildStatus } from '../status/fleet.ts';
import { catalogueCoverage, hostCoverage } from '../status/host.ts';
import type { HostCoverage, StatusReport } from '../status/model.ts';
import { stringPool } from '../util/text.ts';
import type { SelectedHosts } from './hosts.ts';
import type { MakePlanOptions } from './plan.ts';
import { planFleet } from './plan.ts';

export async function makeStatus(
  selected: SelectedHosts,
  o: MakePlanOptions,
): Promise<StatusReport> {
  const { config } = selected;
  const now = Date.now();
  const catalogue = catalogueCoverage(config.patches, config.rollout);
  // each host's facts and plan are dropped once its coverage is made; what the coverage keeps
  // of the host's text is pooled, so no host's probe output stays alive with it
  const strings = stringPool();
  const hosts: HostCoverage[] = [];
  await planFleet(
    selected,
    { ...o, now },
    (x) => hostCoverage({ ...x, patches: config.patches, catalogue, strings }),
    (c) => hosts.push(c),
  );
  return buildStatus(hosts, config.groups.values(), {
    createdAt: new Date(now).toISOString(),
    kpfleetVersion: o.kpfleetVersion,
    config: config.file,
    limit: o.limit,
  });
}

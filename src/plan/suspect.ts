/**
 * The crash guard's words (issue 15 point 4): a load record left under an older boot id means the
 * host went down while kpfleet was loading that patch. These sentences are shared by the planner
 * (which blocks the host), `kpfleet facts` (which shows the suspects) and `kpfleet clear-suspect`.
 */
import type { HostFacts, SuspectLoad } from '../facts/model.ts';
import type { Finding } from './model.ts';

/** What a crash guard record says (facts/parse/load-records.ts), in one sentence. */
export function suspectSentence(x: SuspectLoad): string {
  return (
    `${x.patch} (${x.module}) is suspected of crashing this host: ` +
    `kpfleet started loading it${x.time !== undefined ? ` at ${x.time}` : ''}` +
    `${x.run !== undefined ? ` in run ${x.run}` : ''} (boot ${x.bootId}) ` +
    'and the host went down before the load ended'
  );
}

/** How to clear a suspect once someone has looked at it. */
export const clearHint = (host: string, patch: string): string =>
  `Once someone has looked at why (the host's logs of that boot), clear it: kpfleet clear-suspect --limit ${host} --patch ${patch}`;

/** The crash guard's suspects as `kpfleet facts` shows them (warnings; the planner decides). */
export function suspectNotes(facts: Pick<HostFacts, 'suspects'>, host: string): Finding[] {
  return (facts.suspects ?? []).map((x) => ({
    kind: 'suspect',
    severity: 'warning',
    patch: x.patch,
    module: x.module,
    message: `${suspectSentence(x)}. ${clearHint(host, x.patch)}`,
  }));
}

/** `patch (loading at TIME, run RUN)`: the blocked host's reason, one line. */
export const suspectBrief = (x: SuspectLoad): string => {
  const when = [x.time !== undefined && `at ${x.time}`, x.run !== undefined && `run ${x.run}`]
    .filter((y): y is string => typeof y === 'string')
    .join(', ');
  return `${x.patch}${when ? ` (loading ${when})` : ''}`;
};

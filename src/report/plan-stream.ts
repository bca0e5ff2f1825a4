/**
 * A plan's JSON written host by host, as its hosts are planned, so that no process ever holds
 * the whole plan as one string: the text is byte for byte `planJson(plan)` of the same plan
 * (report/plan.ts: 2-space JSON, a final newline, prose fields without Ansible Vault values).
 *
 * `begin` writes everything before the first host, `host` one host (in the plan's host order),
 * `end` the rest (the summary comes after the hosts in the key order). Each part is what
 * `jsonWithoutSecrets` makes of it, cut out of the plan's own JSON with its hosts left empty: a
 * top-level key is the only line that starts with exactly two spaces and a quote, since JSON
 * escapes every line break inside a string.
 */
import type { HostPlan, Plan } from '../plan/model.ts';
import { jsonWithoutSecrets } from './safe-text.ts';

/** How the (empty) hosts array shows in the plan's JSON. */
const HOSTS = '\n  "hosts": [';
/** Text is handed to `write` in pieces of about this many characters. */
const CHUNK = 1 << 16;

/** The plan's JSON with no host in it, cut where its hosts go. */
function around(plan: Plan): { before: string; after: string } {
  const text = jsonWithoutSecrets({ ...plan, hosts: [] }, 2);
  const at = text.indexOf(HOSTS + ']');
  if (at < 0) throw new Error('a plan without hosts');
  return { before: text.slice(0, at + HOSTS.length), after: text.slice(at + HOSTS.length + 1) };
}

export class PlanJsonWriter {
  private hosts = 0;
  private pending = '';
  private readonly write: (text: string) => void;
  constructor(write: (text: string) => void) {
    this.write = write;
  }

  /** Everything before the hosts; `plan.hosts` and `plan.summary` are not read. */
  begin(plan: Plan): void {
    this.put(around(plan).before);
  }

  /** One host, after those already written. */
  host(h: HostPlan): void {
    const text = jsonWithoutSecrets(h, 2).replaceAll('\n', '\n    ');
    this.put(`${this.hosts === 0 ? '' : ','}\n    ${text}`);
    this.hosts++;
  }

  /** The rest, from the end of the hosts: `plan.summary` and whatever follows the hosts. */
  end(plan: Plan): void {
    this.put(`${this.hosts === 0 ? '' : '\n  '}]${around(plan).after}\n`);
    this.flush();
  }

  private put(text: string): void {
    this.pending += text;
    if (this.pending.length >= CHUNK) this.flush();
  }

  private flush(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  }
}

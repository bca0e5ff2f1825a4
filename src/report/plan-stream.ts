/**
 * A plan's JSON written host by host, as its hosts are planned, so that no process ever holds
 * the whole plan as one string: the text is byte for byte `planJson(plan)` of the same plan
 * (report/plan.ts: 2-space JSON, a final newline, prose fields without Ansible Vault values).
 * `begin` writes everything before the first host, `host` one host (in the plan's host order),
 * `end` the rest (the summary comes after the hosts in the key order): `json-stream.ts`, each
 * part what `jsonWithoutSecrets` makes of it.
 */
import type { Plan } from '../plan/model.ts';
import { HostsJsonWriter } from './json-stream.ts';
import { jsonWithoutSecrets } from './safe-text.ts';

export class PlanJsonWriter extends HostsJsonWriter<Plan> {
  constructor(write: (text: string) => void) {
    super(write, (value) => jsonWithoutSecrets(value, 2));
  }
}

/**
 * The example repository's pipeline files, read once for the tests of test/integration/examples:
 * the workflow and the setup action, typed as far as the tests look into them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const EXAMPLES = join(ROOT, 'examples');

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}
export interface Job {
  if?: string;
  'runs-on'?: string | string[];
  needs?: string | string[];
  environment?: string;
  permissions?: Record<string, string>;
  steps: Step[];
}
export interface Workflow {
  on: Record<string, unknown> & {
    workflow_dispatch?: { inputs?: Record<string, { options?: string[] }> };
  };
  jobs: Record<string, Job>;
}

export const workflow = parse(
  readFileSync(join(EXAMPLES, '.github/workflows/kpfleet.yml'), 'utf8'),
) as Workflow;
export const action = parse(
  readFileSync(join(EXAMPLES, '.github/actions/setup-kpfleet/action.yml'), 'utf8'),
) as { runs: { steps: Step[] } };

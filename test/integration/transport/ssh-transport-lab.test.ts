/** The SSH transport against the in-process lab (issue 4); the same scenarios run on real sshd in e2e. */
import { afterAll, beforeAll } from 'vitest';
import { Lab } from '../../../lab/lab.ts';
import { labHarness, transportScenarios } from '../../transport-scenarios.ts';

let lab: Lab;
beforeAll(async () => {
  lab = await Lab.start({ hosts: 3, simProfile: { TIME_SCALE: '0.02' } });
});
afterAll(async () => {
  await lab.close();
});

transportScenarios(() => labHarness(() => lab));

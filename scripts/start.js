// `npm start`: the demo. Until the lab and apply exist (issues 3-9), it validates the example
// project and shows what kpfleet resolved for each host. It contacts no host.
import { runCli } from '../dist/cli/main.js';

const config = new URL('../examples/kpfleet.yml', import.meta.url).pathname;

console.log('$ kpfleet validate -c examples/kpfleet.yml');
let code = await runCli(['validate', '-c', config]);
if (code === 0) {
  console.log('\n$ kpfleet hosts -c examples/kpfleet.yml --limit prod');
  code = await runCli(['hosts', '-c', config, '--limit', 'prod']);
}
if (code === 0) {
  console.log(
    '\nNext: edit examples/kpfleet.yml (e.g. make a patch name wrong) and run' +
      ' `npx kpfleet validate -c examples/kpfleet.yml` to see the errors it reports.',
  );
}
process.exitCode = code;

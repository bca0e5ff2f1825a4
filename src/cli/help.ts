/**
 * What `kpfleet --help` shows: one line per command and a few examples, short enough to scan;
 * the details stay in each command's own help (`kpfleet help <command>`), which ends with that
 * command's examples. main.ts attaches these to the commands it declares.
 */
import type { Command } from '@commander-js/extra-typings';
import { maxOf } from '../util/arrays.ts';

/** One line per command, for the list in `kpfleet --help`. */
const SUMMARIES: Record<string, string> = {
  validate: 'check kpfleet.yml, its inventory and its patch files',
  hosts: 'list the hosts and the live patches each must have',
  facts: 'read what each host runs: kernel, live patches, kpatch',
  plan: 'show what apply would change on each host, and why',
  status: 'which hosts are protected against which CVEs, until when',
  apply: 'converge the hosts in verified rolling waves',
  unlock: "end a live run's lock on hosts that should not be locked",
  'clear-suspect': 'load a patch again where it was suspected of a crash',
};

/** Examples, each a command line and what it does. */
const EXAMPLES: Record<string, [string, string][]> = {
  '': [
    ['kpfleet validate', 'check the project in this folder'],
    ['kpfleet plan --limit web', 'what would change on the web group'],
    ['kpfleet apply', 'plan, confirm, then converge every host'],
    ['kpfleet status --out html:status.html', 'coverage, with a page to share'],
  ],
  validate: [
    ['kpfleet validate', 'kpfleet.yml in this folder'],
    ['kpfleet validate -c infra/kpfleet.yml --json', 'another project, as JSON'],
  ],
  hosts: [
    ['kpfleet hosts', 'every host, its address and desired patches'],
    ['kpfleet hosts --limit "web:&prod:!web03"', "an Ansible host pattern, as Ansible's --limit"],
  ],
  facts: [
    ['kpfleet facts --limit db', 'read the db group'],
    ['kpfleet facts --json > facts.json', 'every host, as JSON'],
  ],
  plan: [
    ['kpfleet plan', 'show the plan'],
    ['kpfleet plan --out plan.json', 'save it for `kpfleet apply plan.json`'],
    ['kpfleet plan --format markdown --detailed-exitcode', 'for a pull request; exit 2 on changes'],
    [
      'kpfleet plan merge shard-*.json --out plan.json',
      "join the shards' plans (docs/sharding.md)",
    ],
  ],
  status: [
    ['kpfleet status', 'per host and CVE, as text'],
    ['kpfleet status --out html:status.html --out openvex:vex.json', 'a page and a VEX document'],
    ['kpfleet status --format openmetrics > kpfleet.prom', "for node_exporter's textfile folder"],
  ],
  apply: [
    ['kpfleet apply', 'plan, show it, ask, then change the hosts'],
    ['kpfleet apply --yes plan.json', 'exactly a saved plan, without asking (CI)'],
    ['kpfleet apply --check', 'everything but the changes: read, compare, report'],
  ],
  unlock: [['kpfleet unlock --limit web03', "show web03's lock holder, then ask to end it"]],
  'clear-suspect': [
    ['kpfleet clear-suspect --limit db02', 'after looking at why db02 went down during a load'],
  ],
};

function examples(rows: [string, string][]): string {
  const width = maxOf(rows.map(([c]) => c.length));
  return `\nExamples:\n${rows.map(([c, what]) => `  ${c.padEnd(width)}  ${what}`).join('\n')}\n`;
}

/** Gives every command its one-line summary and its examples, and the program its own. */
export const helpExamples = EXAMPLES;

export function addHelp(program: Command): void {
  program.configureHelp({
    // `apply [planfile]`, not `apply [options] [planfile]`: the list is for choosing a command
    subcommandTerm: (cmd) =>
      [
        cmd.name(),
        ...cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)),
      ].join(' '),
  });
  program.helpCommand('help [command]', 'show the details and examples of a command');
  for (const cmd of program.commands) {
    const summary = SUMMARIES[cmd.name()];
    if (summary !== undefined) cmd.summary(summary);
    const rows = EXAMPLES[cmd.name()];
    if (rows !== undefined) cmd.addHelpText('after', examples(rows));
  }
  program.addHelpText(
    'after',
    `${examples(EXAMPLES[''] ?? [])}
validate and hosts contact no host; facts, plan and status change nothing;
apply, unlock and clear-suspect ask first (--yes where no terminal can ask).

Exit codes: 0 ok, 1 a change failed, 2 changes pending (--detailed-exitcode),
3 invalid configuration, 4 unreachable or host key refused, 64 usage,
70 internal error, 74 an output file failed, 130 interrupted
(docs/exit-codes.md).

Details and examples of a command: kpfleet help <command>
`,
  );
}

/**
 * The `report` command and its `merge` subcommand, as main.ts declares the others (kept apart
 * only so that main.ts stays short): the gate between waves (docs/sharding.md). The work is
 * `commands/report.ts`, loaded when the command runs.
 */
import type { Command } from '@commander-js/extra-typings';
import type { CliIo } from './io.ts';
import {
  configOption,
  jsonOption,
  trustSshConfigOption,
  vaultPasswordFileOption,
} from './options.ts';

export function addReportCommand(
  program: Command,
  io: CliIo,
  setCode: (code: number) => void,
): void {
  program
    .command('report')
    .description('Work with the JSON reports of kpfleet apply --report.')
    .command('merge')
    .description(
      'Join the apply reports of the shards of a wave (kpfleet apply --wave K --shard I/N ' +
        '--report FILE), with those of the waves before it, into one report, and gate the next ' +
        'wave: the failures counted as one apply counts them, against max_failures. docs/sharding.md\n' +
        'Exit: 0 the next wave may start; 1 it must not (max_failures spent, a run halted or ' +
        "interrupted, a shard's report missing); 64 reports that are not shards of one run.",
    )
    .argument('<reports...>', 'the JSON reports of waves 1 … K (schemas/report.schema.json)')
    .requiredOption(
      '--plan <file>',
      'the saved (merged) plan the reports\u2019 runs applied: only its reports are taken',
    )
    .requiredOption('--wave <k>', 'the wave just run: every host of waves 1 … K must be reported')
    .option(
      '--max-failures <n|p%>',
      "the failure budget, as rollout.max_failures (a count or a percentage of the hosts attempted); default: kpfleet.yml's",
    )
    .option('-o, --out <file>', 'write the merged report (schemas/report.schema.json), atomically')
    .addOption(jsonOption('print the merged report as JSON on stdout (the decision on stderr)'))
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .action(async (reports, opts) => {
      const { reportMergeCommand } = await import('./commands/report.ts');
      setCode(reportMergeCommand(reports, opts, io));
    });
}

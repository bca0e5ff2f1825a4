/**
 * The command line. The only module that reads argv and decides the exit code
 * (docs/exit-codes.md): commands return a code or throw; `runCli` maps errors to codes.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { AppError, ConfigError, ExitCode } from '../errors.ts';
import { renderDiagnostics, summarize } from '../report/diagnostics.ts';
import { renderError } from '../report/errors.ts';
import { safeLines } from '../report/safe-text.ts';
import { styleFor } from '../report/style.ts';
import type { CliIo } from './io.ts';
import { processIo } from './io.ts';
import {
  configOption,
  detailedExitcodeOption,
  detailedOption,
  forksOption,
  jsonOption,
  limitOption,
  loginUserOption,
  planFormatOption,
  STATUS_FORMATS,
  shardOption,
  trustSshConfigOption,
  vaultPasswordFileOption,
  yesOption,
} from './options.ts';
import { addHelp } from './help.ts';
import { addReportCommand } from './report-command.ts';
import { exitWhenDone, guardedExitCode, guardProcess } from './signals.ts';
import { VERSION } from './version.ts';

export { VERSION };
const ISSUES_URL = 'https://github.com/kpfleet/kpfleet/issues';

function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command()
    .name('kpfleet')
    .description(
      'Declarative live kernel patching (kpatch) for fleets: validate, plan and apply the live ' +
        'patches each inventory group must have, over SSH.',
    )
    .version(VERSION, '-V, --version', 'print the kpfleet version')
    .helpOption('-h, --help', 'show help for a command')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    // `plan merge --out F`: options after a subcommand are its own, not its parent's of the same
    // name (commander otherwise gives them to `plan`); kpfleet's own (-V, -h) come before a command
    .enablePositionalOptions();

  program
    .command('validate')
    .description(
      'Check kpfleet.yml, its inventory and its patch files, offline. Reports every problem at ' +
        'once as file:line:col; exits 3 if the configuration is invalid. Contacts no host.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(jsonOption('print the result and all diagnostics as JSON on stdout'))
    .action(async (opts) => {
      const { validateCommand } = await import('./commands/validate.ts');
      setCode(validateCommand(opts, io));
    });

  program
    .command('hosts')
    .description(
      'List the hosts of the inventory with their connection settings and the live patches each ' +
        'must have (which patch, in which state, for which kernel). Contacts no host.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(
      limitOption('only hosts matching an Ansible host pattern (web:&prod:!web03, ~regex, @file)'),
    )
    .addOption(shardOption())
    .addOption(jsonOption())
    .action(async (opts) => {
      const { hostsCommand } = await import('./commands/hosts.ts');
      setCode(hostsCommand(opts, io));
    });

  program
    .command('facts')
    .description(
      'Read what each host runs, in one SSH exec per host and without root: kernel, kpatch ' +
        'version and list, the livepatch sysfs tree, leftovers of replaced patches, installed ' +
        "modules with their sha256 (kpatch's and the klp manager's store), kpatch.service and " +
        'kpfleet-klp.service, kpatch-patch packages, lockdown and module signing, and which ' +
        'manager each host uses. Changes nothing.\n' +
        'Exits 4 if a host could not be reached or its host key was refused.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption())
    .addOption(shardOption())
    .addOption(forksOption('read'))
    .addOption(loginUserOption())
    .addOption(jsonOption())
    .action(async (opts) => {
      const { factsCommand } = await import('./commands/facts.ts');
      setCode(await factsCommand(opts, io));
    });

  const plan = program
    .command('plan')
    .description(
      'Read every host (one SSH exec each, as facts) and show what kpfleet would change there, in ' +
        'order, and why: + load, - unload, ~ replace, installs, packages; hosts blocked by a stalled ' +
        'transition, uncovered kernels, unmanaged modules, reboot due. Changes nothing.\n' +
        'Exit: 0 ok, 1 a host is blocked or its facts failed, 4 unreachable; with ' +
        '--detailed-exitcode, 2 when changes are pending.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption())
    .addOption(shardOption())
    .addOption(forksOption('read'))
    .addOption(loginUserOption())
    .addOption(planFormatOption())
    .option('-o, --out <file>', 'also save the plan as JSON (schemas/plan.schema.json), for apply')
    .addOption(detailedExitcodeOption())
    .addOption(detailedOption())
    .action(async (opts) => {
      const { planCommand } = await import('./commands/plan.ts');
      setCode(await planCommand(opts, io));
    });

  plan
    .command('merge')
    .summary("join the shards' plans (plan --shard I/N) into one plan, for apply")
    .description(
      'Join the plans of the shards of one fleet (kpfleet plan --shard I/N --out FILE, one per ' +
        'job) into one plan, each host with its shard, as if one machine had planned them all. ' +
        'Contacts no host. Refused (exit 64, nothing written) unless the plans are shards 1 to N ' +
        'of one cut, by this kpfleet, from the current configuration, with the same --limit, ' +
        'every host in its own shard once and every change one kpfleet.yml declares.\n' +
        'Exit: as plan (0 ok, 1 a host is blocked or its facts failed, 4 unreachable; with ' +
        '--detailed-exitcode, 2 when changes are pending).',
    )
    .argument('<plans...>', "the shards' plans (JSON, saved with kpfleet plan --shard I/N --out)")
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption('the --limit the shards were planned with (the same pattern, checked)'))
    .addOption(planFormatOption())
    .option('-o, --out <file>', 'also save the merged plan as JSON, for apply')
    .addOption(detailedExitcodeOption())
    .addOption(detailedOption())
    .action(async (plans, opts) => {
      // `plan --out F merge …` would give --out to plan, which does not run: refused, not ignored
      const before = plan.options
        .filter((o) => plan.getOptionValueSource(o.attributeName()) === 'cli')
        .map((o) => o.long ?? o.flags);
      const { planMergeCommand } = await import('./commands/plan-merge.ts');
      setCode(planMergeCommand(plans, { ...opts, optionsBeforeMerge: before }, io));
    });

  program
    .command('status')
    .description(
      'Read every host (as plan: one SSH exec each, nothing changed) and say which declared live ' +
        'patches are live, which CVEs they mitigate, which are declared but not live and why ' +
        '(not converged, uncovered kernel, blocked, unreachable), reboot due, and until when each ' +
        'host is covered. Formats: text, json (schemas/status.schema.json), csv, openvex, ' +
        'openmetrics, html (docs/status.md).\n' +
        'Exit: 0 every declared CVE mitigated on every host, 1 a host is exposed, uncovered or its ' +
        'facts failed, 4 unreachable.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption())
    .addOption(shardOption())
    .addOption(forksOption('read'))
    .addOption(loginUserOption())
    .addOption(
      new Option('--format <format>', 'what to print on stdout (or write to a bare --out FILE)')
        .choices(STATUS_FORMATS)
        .default('text' as const),
    )
    .addOption(
      new Option(
        '-o, --out <[format:]file>',
        'write to FILE atomically: FORMAT:FILE (html:status.html, openvex:vex.json) in that format, a bare FILE in --format; repeat for several formats from one read',
      ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .action(async (opts) => {
      const { statusCommand } = await import('./commands/status.ts');
      setCode(await statusCommand(opts, io));
    });

  program
    .command('apply')
    .description(
      'Converge the hosts: plan (or take a saved PLANFILE), show the plan, ask (or --yes), then ' +
        'change the hosts in rollout.waves, --forks at a time: each host is locked, its facts read ' +
        'again (a host whose facts changed since the plan is refused), every change verified from ' +
        'the host, the health check run; a failing host is rolled back. max_failures halts the ' +
        'waves. Ctrl-C: steps in flight finish, nothing new starts, exit 130.\n' +
        'Exit: 0 converged, 1 a host failed or was refused, 4 unreachable, 130 interrupted.',
    )
    .argument('[planfile]', 'a plan saved with kpfleet plan --out: execute exactly that plan')
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption())
    .addOption(shardOption())
    .addOption(forksOption('changed'))
    .addOption(loginUserOption())
    .addOption(yesOption())
    .addOption(detailedOption())
    .option(
      '--wave <k>',
      "only wave K of the saved plan's rollout.waves (computed over the whole plan), for a CI job per wave; the gate between waves is kpfleet report merge",
    )
    .option('--check', 'do everything but change a host: lock-free read, compare, report')
    .option('--report <file>', 'write a JSON report (schemas/report.schema.json)')
    .option(
      '--audit-log <file>',
      'append-only JSONL audit log (default: $XDG_STATE_HOME/kpfleet/audit.jsonl)',
    )
    .action(async (planfile, opts) => {
      const { applyCommand } = await import('./commands/apply.ts');
      setCode(await applyCommand(planfile, opts, io));
    });

  addReportCommand(program, io, setCode);

  program
    .command('unlock')
    .description(
      'Show who holds the lock of each host --limit selects and, once confirmed, end it. A lock ' +
        'dies with its run (kpfleet killed, the connection gone: docs/exit-codes.md); this is for ' +
        "a run that is alive but should not be, and for an older kpfleet's lock folder.\n" +
        'Exit: 0 every selected host is free, 1 a lock could not be ended, 4 unreachable.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(limitOption('the hosts whose locks to look at (required)').makeOptionMandatory())
    .addOption(forksOption())
    .addOption(loginUserOption())
    .addOption(yesOption())
    .action(async (opts) => {
      const { unlockCommand } = await import('./commands/unlock.ts');
      setCode(await unlockCommand(opts, io));
    });

  program
    .command('clear-suspect')
    .description(
      'After someone has looked at why a host went down while kpfleet was loading a patch there ' +
        '(plan: "suspected of crashing this host"), clear that record so kpfleet loads the patch ' +
        'there again. Shows what it clears and asks (yes); --yes is required without a terminal.\n' +
        'Exit: 0 cleared or nothing to clear, 1 a record could not be removed, 4 unreachable.',
    )
    .addOption(configOption())
    .addOption(vaultPasswordFileOption())
    .addOption(trustSshConfigOption())
    .addOption(
      limitOption('the hosts someone has looked at (Ansible host pattern)').makeOptionMandatory(),
    )
    .option('--patch <name>', 'only the records of this patch')
    .addOption(forksOption('read'))
    .addOption(loginUserOption())
    .addOption(yesOption())
    .action(async (opts) => {
      const { clearSuspectCommand } = await import('./commands/clear-suspect.ts');
      setCode(await clearSuspectCommand(opts, io));
    });

  addHelp(program);
  return program;
}

/** Runs the CLI and returns the exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code: number = ExitCode.ok;
  const program = buildProgram(io, (c) => (code = c));
  const err = styleFor(io.stderr, io.env);
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return ExitCode.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end in a CommanderError with exit code 0.
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (e instanceof ConfigError) {
      io.stderr.write(renderDiagnostics(e.diagnostics, err) + '\n\n');
      io.stderr.write(
        `${err.red('✖')} configuration is invalid (${summarize(e.diagnostics)}); no host was contacted\n`,
      );
      return e.exitCode;
    }
    if (e instanceof AppError && e.exitCode !== ExitCode.internal) {
      io.stderr.write(renderError(e, err));
      return e.exitCode;
    }
    // a bug's text may quote a host: safe to print, its lines kept for the report
    const detail = safeLines(e instanceof Error ? (e.stack ?? e.message) : String(e));
    io.stderr.write(
      `${err.red('internal error')}: this is a bug in kpfleet ${VERSION}, not in your configuration.\n` +
        `Please report it at ${ISSUES_URL} with the command you ran and this text:\n\n` +
        `kpfleet ${VERSION}, node ${process.version}, ${process.platform}/${process.arch}\n${detail}\n`,
    );
    return ExitCode.internal;
  }
}

/** Entry point for bin/kpfleet.js and `tsx src/cli/main.ts`. */
export async function main(): Promise<void> {
  const io = processIo();
  // signals and crashes end every phase cleanly (signals.ts): 130, 70
  guardProcess(io);
  const code = await runCli(process.argv.slice(2), io);
  // one more turn of the event loop: a signal that came during the last synchronous work
  await new Promise((done) => setTimeout(done, 0));
  const exitCode = guardedExitCode(code);
  process.exitCode = exitCode;
  // an fsync on a hung disk would keep the process alive for ever (signals.ts)
  exitWhenDone(exitCode);
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href
) {
  // not a top-level await: the build bundles this module as CommonJS (scripts/build-bundle.ts);
  // main() reports its own failures (guardProcess)
  void main();
}

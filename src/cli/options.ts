/**
 * The options several commands share, each declared once (main.ts adds them to each command),
 * and `--forks` parsed once.
 */
import { Option } from '@commander-js/extra-typings';
import { UsageError } from '../errors.ts';

export const configOption = () =>
  new Option('-c, --config <file>', 'project file (default: kpfleet.yml in the current folder)');

// Command line only (no env var, no file): a pull request cannot turn it on.
export const trustSshConfigOption = () =>
  new Option(
    '--trust-ssh-config',
    'let an ssh config inside the project run commands (Match exec, ProxyCommand, LocalCommand, ' +
      'KnownHostsCommand); without it they are refused (exit 3). Never on a pull request',
  );

export const loginUserOption = () =>
  new Option(
    '--login-user <name>',
    'log in as NAME on every host, whatever kpfleet.yml and the inventory say (facts and plans need no root: a user without sudo for CI, docs/security.md)',
  );

/** `--vault-password-file`: read by cli/vault-password.ts (ANSIBLE_VAULT_PASSWORD_FILE otherwise). */
export const vaultPasswordFileOption = () =>
  new Option(
    '--vault-password-file <file>',
    'the Ansible Vault password, for vaulted inventory and vars files and !vault values (default: $ANSIBLE_VAULT_PASSWORD_FILE); an executable file is run and its output used, as Ansible does',
  );

/** `-l, --limit`: an Ansible host pattern; `unlock` and `clear-suspect` require it. */
export const limitOption = (description = 'only hosts matching an Ansible host pattern') =>
  new Option('-l, --limit <pattern>', description);

/** `-f, --forks`: how many hosts at once, and what is done to them (`read`, `changed`); see parseForks. */
export const forksOption = (done?: string) =>
  new Option(
    '-f, --forks <n>',
    `hosts ${done === undefined ? '' : `${done} `}at once (default: rollout.forks)`,
  );

/** `--shard I/N`: parsed by inventory/shard.ts (KPFLEET_SHARD otherwise). */
export const shardOption = () =>
  new Option(
    '--shard <I/N>',
    'only the hosts of shard I of N, by a stable hash of each name (default: $KPFLEET_SHARD); JOB_COMPLETION_INDEX/N in a Kubernetes Indexed Job. docs/sharding.md',
  );

export const yesOption = () =>
  new Option('-y, --yes', 'do not ask for confirmation (required without a terminal)');

/** `--detailed`: the text plan with a block per host, not one per group of identical hosts. */
export const detailedOption = () =>
  new Option(
    '--detailed',
    'show the plan with a block per host (by default hosts with identical changes share one)',
  );

/** `plan` and `plan merge`: how the plan is printed. */
export const planFormatOption = () =>
  new Option('--format <format>', 'what to print on stdout')
    .choices(['text', 'json', 'markdown'] as const)
    .default('text' as const);

export const detailedExitcodeOption = () =>
  new Option('--detailed-exitcode', 'exit 2 when changes are pending, 0 only when there are none');

export const jsonOption = (description = 'print JSON on stdout') =>
  new Option('--json', description);

/** `--forks`: a whole number from 1 to 1000; anything else is a usage error (exit 64). */
export function parseForks(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 1000) {
    throw new UsageError(`--forks '${value}' is not a number of hosts from 1 to 1000`);
  }
  return n;
}

/** What `kpfleet status` writes (cli/commands/status.ts renders each). */
export const STATUS_FORMATS = ['text', 'json', 'csv', 'openvex', 'openmetrics', 'html'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

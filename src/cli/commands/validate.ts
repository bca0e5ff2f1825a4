import { hasErrors } from '../../diagnostics.ts';
import { ConfigError, ExitCode } from '../../errors.ts';
import { loadForCli } from './project.ts';
import { renderDiagnostics, summarize } from '../../report/diagnostics.ts';
import { safeText } from '../../report/safe-text.ts';
import { styleFor } from '../../report/style.ts';
import type { CliIo } from '../io.ts';

export interface ValidateOptions {
  config?: string;
  trustSshConfig?: boolean;
  json?: boolean;
}

export function validateCommand(opts: ValidateOptions, io: CliIo): number {
  const project = loadForCli(opts, io);
  const { config, inventory, diagnostics } = project;
  const ok = !hasErrors(diagnostics);
  if (opts.json === true) {
    io.stdout.write(
      JSON.stringify({ version: 1, valid: ok, file: config.file, diagnostics }, null, 2) + '\n',
    );
    return ok ? ExitCode.ok : ExitCode.invalidConfig;
  }
  if (!ok) throw new ConfigError(diagnostics);
  const style = styleFor(io.stdout, io.env);
  if (diagnostics.length)
    io.stderr.write(renderDiagnostics(diagnostics, styleFor(io.stderr, io.env)) + '\n\n');
  const hosts = inventory ? inventory.hosts.size : 0;
  io.stdout.write(
    `${style.green('✔')} ${safeText(config.file)} is valid: ${config.patches.size} patch${config.patches.size === 1 ? '' : 'es'}, ${config.groups.size} group${config.groups.size === 1 ? '' : 's'}, ${hosts} host${hosts === 1 ? '' : 's'} in ${safeText(config.inventoryWritten)}` +
      (diagnostics.length ? ` (${summarize(diagnostics)})` : '') +
      '\n',
  );
  return ExitCode.ok;
}

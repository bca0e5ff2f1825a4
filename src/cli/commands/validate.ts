import type { Config, ModuleSignature } from '../../config-model.ts';
import { hasErrors } from '../../diagnostics.ts';
import { ConfigError, ExitCode } from '../../errors.ts';
import { loadForCli } from './project.ts';
import { renderDiagnostics, summarize } from '../../report/diagnostics.ts';
import { safeText } from '../../report/safe-text.ts';
import { signatureWords } from '../../report/signature.ts';
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
      JSON.stringify(
        { version: 1, valid: ok, file: config.file, diagnostics, signatures: signatures(config) },
        null,
        2,
      ) + '\n',
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
  for (const line of signatureLines(config)) io.stdout.write(`  ${style.dim(safeText(line))}\n`);
  return ExitCode.ok;
}

/** Each file patch's signature by patch name, for --json (an rpm's is not read). */
function signatures(config: Config): Record<string, ModuleSignature> {
  const out: Record<string, ModuleSignature> = {};
  for (const p of config.patches.values())
    if (p.source.kind === 'file' && p.source.signature !== undefined)
      out[p.name] = p.source.signature;
  return out;
}

/**
 * Each patch's signature, as read from its file (config/module-signature.ts): which hosts refuse
 * an unsigned module is a fact of the host, known only once it is read, so this is information.
 */
function signatureLines(config: Config): string[] {
  return [...config.patches.values()].map((p) => {
    const s = p.source;
    if (s.kind === 'rpm') return `${p.name}: ${s.package} (rpm): signature not read`;
    const words = s.signature !== undefined ? signatureWords(s.signature, true) : 'not read';
    return `${p.name}: ${s.written} ${words}`;
  });
}

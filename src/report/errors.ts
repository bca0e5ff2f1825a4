/**
 * A failure as the CLI prints it on stderr (`runCli`, src/cli/main.ts): `error: host h, step s:
 * message`, then the hint. A message may quote a host or a tool (ssh's stderr, a value from the
 * command line): every line of it is made safe to print, and the lines after the first are
 * indented under it, so that none can pass for a line of kpfleet's own.
 */
import { safeLines, safeText } from './safe-text.ts';
import type { Style } from './style.ts';

export interface ErrorView {
  message: string;
  hint?: string | undefined;
  host?: string | undefined;
  step?: string | undefined;
}

/** Text of several lines, safe, its lines after the first indented by `indent`. */
function indentedLines(text: string, indent = '  '): string {
  return safeLines(text.trimEnd()).split('\n').join(`\n${indent}`);
}

export function renderError(e: ErrorView, style: Style): string {
  const where = [
    e.host !== undefined && e.host !== '' ? `host ${safeText(e.host)}` : '',
    e.step !== undefined && e.step !== '' ? `step ${safeText(e.step)}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const lines = [`${style.red('error')}: ${where ? where + ': ' : ''}${indentedLines(e.message)}`];
  if (e.hint !== undefined) lines.push(`  ${style.cyan('hint')}: ${indentedLines(e.hint, '    ')}`);
  return lines.join('\n') + '\n';
}

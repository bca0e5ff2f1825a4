/** Renders diagnostics as `file:line:col: severity: message`, the offending line and a caret. */
import type { Diagnostic } from '../diagnostics.ts';
import type { Style } from './style.ts';

export function renderDiagnostic(d: Diagnostic, style: Style): string {
  const where = d.pos ? `${d.file}:${d.pos.line}:${d.pos.col}` : d.file;
  const sev = d.severity === 'error' ? style.red('error') : style.yellow('warning');
  const lines = [`${style.bold(where)}: ${sev}: ${d.message}`];
  if (d.pos && d.lineText !== undefined) {
    const num = String(d.pos.line);
    const gutter = ' '.repeat(num.length);
    const text = d.lineText.replace(/\t/g, ' ');
    lines.push(`  ${style.dim(num + ' |')} ${text}`);
    lines.push(
      `  ${style.dim(gutter + ' |')} ${' '.repeat(Math.max(0, d.pos.col - 1))}${style.red('^')}`,
    );
  }
  if (d.hint !== undefined) lines.push(`  ${style.cyan('hint')}: ${d.hint}`);
  return lines.join('\n');
}

export function renderDiagnostics(list: readonly Diagnostic[], style: Style): string {
  return list.map((d) => renderDiagnostic(d, style)).join('\n\n');
}

export function summarize(list: readonly Diagnostic[]): string {
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  const parts = [];
  if (errors) parts.push(`${errors} error${errors === 1 ? '' : 's'}`);
  if (warnings) parts.push(`${warnings} warning${warnings === 1 ? '' : 's'}`);
  return parts.join(', ') || 'no problems';
}

/** Renders diagnostics as `file:line:col: severity: message`, the offending line and a caret. */
import type { Diagnostic } from '../diagnostics.ts';
import { oneLine, safeText } from './safe-text.ts';
import type { Style } from './style.ts';

/**
 * File names, messages, the source line and hints are text from files (a message may quote a
 * value): each is made safe to print. The caret stays under its column, however wide the escapes
 * before it are.
 */
export function renderDiagnostic(d: Diagnostic, style: Style): string {
  const file = safeText(d.file);
  const where = d.pos ? `${file}:${d.pos.line}:${d.pos.col}` : file;
  const sev = d.severity === 'error' ? style.red('error') : style.yellow('warning');
  const lines = [`${style.bold(where)}: ${sev}: ${oneLine(d.message)}`];
  if (d.pos && d.lineText !== undefined) {
    const num = String(d.pos.line);
    const gutter = ' '.repeat(num.length);
    const raw = d.lineText.replace(/\t/g, ' ');
    const before = safeText(raw.slice(0, Math.max(0, d.pos.col - 1)));
    lines.push(`  ${style.dim(num + ' |')} ${safeText(raw)}`);
    lines.push(`  ${style.dim(gutter + ' |')} ${' '.repeat(before.length)}${style.red('^')}`);
  }
  if (d.hint !== undefined) lines.push(`  ${style.cyan('hint')}: ${oneLine(d.hint)}`);
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

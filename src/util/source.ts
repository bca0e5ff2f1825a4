/**
 * A text file with its line starts, so that offsets become 1-based line:col and a diagnostic can
 * show the offending line. Pure: the caller reads the file.
 */
import type { Diagnostic, Position, Severity } from '../diagnostics.ts';

export class SourceText {
  readonly file: string;
  readonly text: string;
  private readonly lineStarts: number[];

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    }
  }

  /** 1-based position of a 0-based character offset. */
  position(offset: number): Position {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: o - (this.lineStarts[lo] ?? 0) + 1 };
  }

  /** The text of a 1-based line, without its newline. */
  line(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  /** A diagnostic at a character offset (or at a position), with its source line. */
  diagnostic(
    severity: Severity,
    code: string,
    message: string,
    at: number | Position | undefined,
    hint?: string,
  ): Diagnostic {
    const d: Diagnostic = { severity, code, message, file: this.file };
    if (at !== undefined) {
      const pos = typeof at === 'number' ? this.position(at) : at;
      d.pos = pos;
      d.lineText = this.line(pos.line);
    }
    if (hint !== undefined) d.hint = hint;
    return d;
  }
}

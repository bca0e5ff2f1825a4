/**
 * A diagnostic is one finding about a user's file: where (file:line:col), what, and how bad.
 * Parsers and validators return them as data; the CLI renders them (report/diagnostics.ts).
 */
export type Severity = 'error' | 'warning';

export interface Position {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
}

export interface Diagnostic {
  severity: Severity;
  /** Stable identifier of the rule that fired, e.g. `schema/unknown-key`, `rules/unknown-patch`. */
  code: string;
  message: string;
  /** The file the finding is about, as the user named it (relative to the working directory). */
  file: string;
  /** Absent when the finding is about the file as a whole (e.g. it cannot be read). */
  pos?: Position;
  /** The source line at `pos`, for showing under the message. */
  lineText?: string;
  /** Extra advice: a did-you-mean, the expected form. */
  hint?: string;
  /**
   * The inventory hosts kpfleet must not contact while this finding stands (a connection variable
   * it cannot use). An error about hosts a command does not select is a warning for it.
   */
  blocksHosts?: string[];
}

/** Orders diagnostics by file, line, column, so output is stable. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      (a.pos?.line ?? 0) - (b.pos?.line ?? 0) ||
      (a.pos?.col ?? 0) - (b.pos?.col ?? 0),
  );
}

export function hasErrors(list: readonly Diagnostic[]): boolean {
  return list.some((d) => d.severity === 'error');
}

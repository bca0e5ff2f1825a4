/** What the CLI talks to: streams, environment, working directory. Tests pass their own. */
export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * Lines for `out`, written together once per turn of the event loop (a fleet's hosts end in
 * bursts: one write for each burst, not one per line) or as soon as 64 KiB wait, in order;
 * `flush` writes what waits at once (before anything else is written to `out`).
 */
export function lineWriter(out: { write(s: string): unknown }): {
  line: (text: string) => void;
  flush: () => void;
} {
  let waiting: string[] = [];
  let size = 0;
  let turn: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (turn !== undefined) clearImmediate(turn);
    turn = undefined;
    if (waiting.length === 0) return;
    const text = waiting.join('');
    waiting = [];
    size = 0;
    out.write(text);
  };
  return {
    line: (text) => {
      waiting.push(text + '\n');
      size += text.length + 1;
      if (size >= 65536) flush();
      else turn ??= setImmediate(flush);
    },
    flush,
  };
}

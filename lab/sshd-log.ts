/**
 * Counting what a run cost each host of the real-SSH fleet (lab/fleet.ts), from each host's own
 * sshd log (fleetUp with `logLevel: 'VERBOSE'`): logins, and sessions (exec and SFTP channels).
 * Used by the benchmarks (bench/jobs.ts, bench/scale.ts) and the e2e tests that pin the counts.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** sshd log sizes now, per host folder (the fleet's sshd logs at LogLevel VERBOSE). */
export function sshdLogOffsets(hostDirs: readonly string[]): number[] {
  return hostDirs.map((d) => statSync(join(d, 'sshd.log')).size);
}

/**
 * Logins and sessions per host since the offsets, from each sshd's own log (LogLevel VERBOSE).
 * A session is one SSH channel: sshd logs `Starting session: command` for an exec and `Starting
 * session: subsystem 'sftp'` for an SFTP channel (an upload); `sessions` is both together.
 */
export function sshdCounts(
  hostDirs: readonly string[],
  offsets: readonly number[],
): { logins: number[]; execs: number[]; subsystems: number[]; sessions: number[] } {
  const logins: number[] = [];
  const execs: number[] = [];
  const subsystems: number[] = [];
  const sessions: number[] = [];
  hostDirs.forEach((d, i) => {
    const text = readFileSync(join(d, 'sshd.log'))
      .subarray(offsets[i] ?? 0)
      .toString('utf8');
    const count = (re: RegExp) => (text.match(re) ?? []).length;
    const exec = count(/Starting session: command/g);
    const subsystem = count(/Starting session: subsystem/g);
    logins.push(count(/Accepted publickey for /g));
    execs.push(exec);
    subsystems.push(subsystem);
    sessions.push(exec + subsystem);
  });
  return { logins, execs, subsystems, sessions };
}

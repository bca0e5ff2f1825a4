/**
 * A command on a lab host over real SSH, as an operator's `ssh` would run it (the OpenSSH
 * client, strict host keys), and the same as root through the host's sudo, as kpfleet runs its
 * steps. Used by the lab tests that drive a host by hand.
 */
import { spawn } from 'node:child_process';
import { strictSshOptions } from '../../../lab/host-dir.ts';
import type { Lab } from '../../../lab/lab.ts';

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` on `host` as the lab's user; killed after `timeoutMs`. */
export function labSsh(
  lab: Lab,
  host: string,
  command: string,
  timeoutMs = 30_000,
): Promise<SshResult> {
  const h = lab.host(host);
  return new Promise((done) => {
    const child = spawn(
      'ssh',
      [
        ...strictSshOptions(lab.keyPath, lab.knownHostsPath),
        '-p',
        String(h.port),
        `${lab.user}@${h.address}`,
        command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** `command` as root through the host's sudo (`sudo -n sh -c`), as kpfleet sends a step. */
export function labRoot(
  lab: Lab,
  host: string,
  command: string,
  timeoutMs?: number,
): Promise<SshResult> {
  return labSsh(lab, host, `sudo -n sh -c '${command.replace(/'/g, `'\\''`)}'`, timeoutMs);
}

/**
 * The lab's replay mode (LabOptions.replay, SPEC.md "Replay"): many hosts that are one host. All
 * hosts share one host folder and are sent the same commands in the same order (a run treats them
 * alike); the n-th time any host sends a command, it runs for real once, on the first host that
 * gets there, and every other host's n-th sending of it is answered with that run's output,
 * streamed as it came, and its exit status. Commands that change the host's state replay too: a
 * host's `kpatch load` is answered as the first host's was, and that host's next facts read (its
 * n+1-th probe) is the real read made after the real load.
 *
 * Two parts of a command may differ between hosts and still be the same command: ISO-8601 UTC
 * times (the time a lock was taken) and the random hex of a temporary file name (`….<hex>.part`,
 * an upload's), masked in the key (`replayKey`). Each host's SFTP upload is written for real (its
 * own temporary name; sftp.ts, in this process), so whichever host runs the
 * check-and-rename for real finds its file.
 *
 * A recorded command that read its stdin to the end before it ended (the lock holder, held
 * until its run sends end of file) ends on a replaying host only after that host's own end of
 * file too, so a replayed lock is held exactly as long as its run holds it.
 */
import type { ServerChannel } from 'ssh2';

/** What a command printed, in order, and how it ended: filled by the real run, read by replays. */
export class Recording {
  readonly chunks: { err: boolean; data: Buffer }[] = [];
  end: { code: number | null; signal: string | null } | undefined;
  /** The real run's stdin ended before the command did: replays wait for their own. */
  stdinEndedFirst = false;
  private readonly listeners = new Set<() => void>();

  push(err: boolean, data: Buffer): void {
    this.chunks.push({ err, data });
    this.notify();
  }

  stdinEnded(): void {
    if (!this.end) this.stdinEndedFirst = true;
  }

  finish(code: number | null, signal: string | null): void {
    if (this.end) return;
    this.end = { code, signal };
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Answers `channel` as the real run answered: its output as it comes, then its end. */
  replayOnto(channel: ServerChannel): void {
    let sent = 0;
    let ownEof = false;
    let done = false;
    const pump = (): void => {
      if (done) return;
      try {
        while (sent < this.chunks.length) {
          const c = this.chunks[sent++];
          if (c) (c.err ? channel.stderr : channel).write(c.data);
        }
        const end = this.end;
        if (!end || (this.stdinEndedFirst && !ownEof)) return;
        done = true;
        this.listeners.delete(pump);
        if (end.signal !== null) channel.exit(end.signal.replace(/^SIG/, ''), false, '');
        else channel.exit(end.code ?? 255);
        channel.end();
      } catch {
        done = true; // the client went away first
        this.listeners.delete(pump);
      }
    };
    channel.on('data', () => undefined); // read (and drop) what the client sends, to see its end
    channel.on('end', () => {
      ownEof = true;
      pump();
    });
    channel.on('close', () => {
      done = true;
      this.listeners.delete(pump);
    });
    this.listeners.add(pump);
    pump();
  }
}

const ISO_TIME = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g;
const TEMP_HEX = /([.-])[0-9a-f]{8,32}(?=\.part\b)/g;

/** The command as the replay knows it: times and temporary names masked. */
export function replayKey(command: string): string {
  return command.replace(ISO_TIME, '<time>').replace(TEMP_HEX, '$1<tmp>');
}

/**
 * The first upload to a path: its sha256 (every other host's must match), and its bytes when
 * small (sftp.ts keeps them, once for every session, to put back a file of a session's own that
 * the first host's cleanup removed).
 */
export interface FirstUpload {
  sha256: string;
  bytes: Buffer | undefined;
}

/** The recordings of one replay lab, and how many times each host has sent each command. */
export class Replays {
  private recordings = new Map<string, Recording>();
  private sent = new Map<string, Map<string, number>>();
  /** Commands run for real, and answered from a recording, since the last reset. */
  real = 0;
  replayed = 0;
  /** The first upload to each path (masked as commands are): sftp.ts. */
  uploads = new Map<string, FirstUpload>();

  /** The recording that answers `host`'s command; `first` when this host must run it for real. */
  take(host: string, command: string): { recording: Recording; first: boolean } {
    const key = replayKey(command);
    let counts = this.sent.get(host);
    if (!counts) this.sent.set(host, (counts = new Map<string, number>()));
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    const full = `${String(n)}\n${key}`;
    const known = this.recordings.get(full);
    if (known) {
      this.replayed++;
      return { recording: known, first: false };
    }
    const recording = new Recording();
    this.recordings.set(full, recording);
    this.real++;
    return { recording, first: true };
  }

  /** Forgets every recording and count: the hosts' state was put back by the caller. */
  reset(): void {
    this.recordings = new Map();
    this.sent = new Map();
    this.real = 0;
    this.replayed = 0;
    this.uploads = new Map();
  }
}

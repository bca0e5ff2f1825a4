/**
 * A report's JSON written a host at a time (a plan's, a status report's), so that no process
 * holds a large fleet's report as one string, nor a copy of it: the text is byte for byte
 * `stringify(report) + '\n'` of the same report, where `stringify` is `JSON.stringify` at two
 * spaces, with whatever it does to strings (a replacer, a cleaned copy) done alike to a part and
 * to the whole.
 *
 * `begin` writes everything before the first host, `host` one host (in the report's host order),
 * `end` the rest (whatever follows the hosts in the key order). Each part is cut out of the
 * report's own JSON with its hosts left empty: a top-level key is the only line that starts with
 * exactly two spaces and a quote, since JSON escapes every line break inside a string.
 */

/** How the (empty) hosts array shows in the report's JSON. */
const HOSTS = '\n  "hosts": [';
/** Text is handed to `write` in pieces of about this many characters. */
const CHUNK = 1 << 16;

export class HostsJsonWriter<R extends { hosts: readonly unknown[] }> {
  private hosts = 0;
  private pending = '';
  private readonly write: (text: string) => void;
  private readonly stringify: (value: unknown) => string;

  constructor(write: (text: string) => void, stringify: (value: unknown) => string) {
    this.write = write;
    this.stringify = stringify;
  }

  /** Everything before the hosts; `report.hosts` is not read. */
  begin(report: R): void {
    this.put(this.around(report).before);
  }

  /** One host, after those already written. */
  host(h: R['hosts'][number]): void {
    const text = this.stringify(h).replaceAll('\n', '\n    ');
    this.put(`${this.hosts === 0 ? '' : ','}\n    ${text}`);
    this.hosts++;
  }

  /** The rest, from the end of the hosts; `report.hosts` is not read. */
  end(report: R): void {
    this.put(`${this.hosts === 0 ? '' : '\n  '}]${this.around(report).after}\n`);
    this.flush();
  }

  /** The report's JSON with no host in it, cut where its hosts go. */
  private around(report: R): { before: string; after: string } {
    const text = this.stringify({ ...report, hosts: [] });
    const at = text.indexOf(HOSTS + ']');
    if (at < 0) throw new Error('a report without hosts');
    return { before: text.slice(0, at + HOSTS.length), after: text.slice(at + HOSTS.length + 1) };
  }

  private put(text: string): void {
    this.pending += text;
    if (this.pending.length >= CHUNK) this.flush();
  }

  private flush(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  }
}

/**
 * The crash guard's records (issue 15 point 4), as the probe prints them: the boot id, then
 * `record <file name>` and the file's lines behind `| ` for each record in
 * /var/lib/kpfleet/loading (written by apply/load-record.ts `loadRecordScript`). A record whose boot
 * id is this boot's is a load whose controller stopped while the host stayed up: not a suspect.
 * Anything not in the records' exact shape is a FieldError that names it, never a guess, and so
 * is a folder the login user cannot read (no record seen is not no record). Pure.
 */
import { LOAD_RECORD_DIR } from '../../host-paths.ts';
import type { SuspectLoad } from '../model.ts';
import { field, lines, moduleName, shown } from './fields.ts';

/** What the probe prints at most (65 records): more is refused. */
const LOAD_RECORDS_MAX = 64;

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PATCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const KEYS = new Set(['module', 'patch', 'boot', 'run', 'time']);

interface Raw {
  name: string;
  body: string[];
}

function readRecord(r: Raw): SuspectLoad {
  const values = new Map<string, string>();
  for (const line of r.body) {
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq);
    field(
      KEYS.has(key) && !values.has(key),
      () =>
        `${LOAD_RECORD_DIR}/${r.name} has a line ${shown(line)}, not one of module=, patch=, boot=, run=, time= (each once)`,
    );
    values.set(key, line.slice(eq + 1));
  }
  const get = (key: string, rule: RegExp, what: string): string => {
    const v = values.get(key) ?? '';
    field(rule.test(v), () => `${LOAD_RECORD_DIR}/${r.name} has ${key}=${shown(v)}, not ${what}`);
    return v;
  };
  const module = get('module', /^[A-Za-z0-9_]{1,55}$/, 'a kernel module name');
  field(
    module === r.name,
    () => `${LOAD_RECORD_DIR}/${r.name} is the record of another module (${shown(module)})`,
  );
  const patch = get('patch', PATCH_NAME, 'a patch name');
  const bootId = get('boot', BOOT_ID, 'a boot id');
  const run = values.has('run') ? get('run', RUN_ID, 'a run id') : undefined;
  const time = values.has('time') ? get('time', TIME, 'a time (YYYY-MM-DDTHH:MM:SSZ)') : undefined;
  return {
    module,
    patch,
    bootId,
    ...(run !== undefined ? { run } : {}),
    ...(time !== undefined ? { time } : {}),
  };
}

/**
 * The `load-records` section → this boot's id and the suspects: records of an older boot. An
 * empty section (an older probe's host, a host without the file) is no boot id and no record.
 * A `<module>.new` file is a record the host went down while writing, before its load: ignored.
 */
export function readLoadRecords(section: string): { bootId?: string; suspects: SuspectLoad[] } {
  const [head, ...rest] = lines(section);
  if (head === undefined) return { suspects: [] };
  field(
    BOOT_ID.test(head),
    () => `/proc/sys/kernel/random/boot_id is ${shown(head)}, not a boot id`,
  );
  const raws: Raw[] = [];
  for (const line of rest) {
    field(
      line !== 'unreadable',
      () =>
        `the login user cannot read ${LOAD_RECORD_DIR}, so the crash guard's records cannot be checked; make it readable (kpfleet makes it 0755) or log in as a user who can`,
    );
    if (line.startsWith('record ')) {
      field(
        raws.length < LOAD_RECORDS_MAX,
        () => `${LOAD_RECORD_DIR} holds more than ${String(LOAD_RECORDS_MAX)} records`,
      );
      raws.push({ name: line.slice(7), body: [] });
      continue;
    }
    const current = raws.at(-1);
    field(
      current !== undefined && line.startsWith('| '),
      () => `the load records section has a line ${shown(line)}`,
    );
    field(
      current.body.length < 5,
      () => `${LOAD_RECORD_DIR}/${current.name} has more than 5 lines`,
    );
    current.body.push(line.slice(2));
  }
  const suspects: SuspectLoad[] = [];
  for (const r of raws) {
    if (r.name.endsWith('.new')) {
      moduleName(r.name.slice(0, -4), `${LOAD_RECORD_DIR} has a file named`);
      continue;
    }
    moduleName(r.name, `${LOAD_RECORD_DIR} has a file named`);
    const s = readRecord(r);
    if (s.bootId !== head) suspects.push(s);
  }
  return { bootId: head, suspects };
}

/**
 * A CSV text read by Python's csv module (strict), as the rows a spreadsheet script would get:
 * one record per row keyed by the header. Fails when Python refuses the text, or when a record
 * has more or fewer fields than the header (DictReader would pad or gather them silently).
 * For the status CSV's unit test and the end-to-end test of `kpfleet status --format csv`.
 */
import { NO_MODULE, pythonJson } from './run.ts';

const SCRIPT = `
import sys
try:
    import csv, io, json
except ImportError as e:
    print(e, file=sys.stderr); sys.exit(${NO_MODULE})
text = io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline='')
reader = csv.reader(text, strict=True)
header = next(reader)
rows = []
for record in reader:
    if len(record) != len(header):
        sys.exit('record %d has %d fields, the header %d' % (reader.line_num, len(record), len(header)))
    rows.append(dict(zip(header, record)))
print(json.dumps(rows))
`;

export async function parseCsvWithPython(text: string): Promise<Record<string, string>[]> {
  return (await pythonJson(SCRIPT, text, 'python3')) as Record<string, string>[];
}

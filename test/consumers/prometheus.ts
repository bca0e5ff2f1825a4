/**
 * Metrics text read by the programs that consume it: `promtool check metrics` (the Prometheus
 * text parser and its lint, Debian package prometheus) and the strict OpenMetrics parser of
 * prometheus_client (Debian package python3-prometheus-client); and an alert-rule file checked
 * and unit-tested by promtool. For the status metrics' unit test and the end-to-end test of
 * `kpfleet status --format openmetrics`.
 */
import { NO_MODULE, pythonJson, runConsumer } from './run.ts';
import type { ConsumerResult } from './run.ts';

const PROMTOOL = 'promtool';
const PROMTOOL_PKG = 'prometheus';

/** `promtool check metrics` on `text`: exit 0 and no output means no parse error, no lint. */
export async function promtoolCheck(
  text: string,
): Promise<{ status: number | null; output: string }> {
  const r = await runConsumer(PROMTOOL, ['check', 'metrics'], text, PROMTOOL_PKG);
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

/** `promtool check rules FILE` / `promtool test rules FILE`. */
export function promtoolRules(verb: 'check' | 'test', file: string): Promise<ConsumerResult> {
  return runConsumer(PROMTOOL, [verb, 'rules', file], '', PROMTOOL_PKG);
}

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp: number | null;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  unit: string;
  samples: ParsedSample[];
}

const SCRIPT = `
import sys
try:
    import json
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as e:
    print(e, file=sys.stderr); sys.exit(${NO_MODULE})
text = sys.stdin.buffer.read().decode('utf-8')
out = []
for f in text_string_to_metric_families(text):
    out.append({'name': f.name, 'type': f.type, 'help': f.documentation, 'unit': f.unit,
        'samples': [{'name': s.name, 'labels': s.labels, 'value': s.value,
            'timestamp': None if s.timestamp is None else float(s.timestamp)} for s in f.samples]})
print(json.dumps(out, allow_nan=False))
`;

/** The families as prometheus_client's OpenMetrics parser reads them; rejects what it refuses. */
export async function parseOpenMetrics(text: string): Promise<ParsedFamily[]> {
  return (await pythonJson(SCRIPT, text, 'python3-prometheus-client')) as ParsedFamily[];
}

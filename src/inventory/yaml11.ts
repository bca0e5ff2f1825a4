/**
 * YAML 1.1 as PyYAML (and so Ansible) resolves plain scalars. The `yaml` package's own 1.1 schema
 * differs in ways that matter for inventories: it reads `y`/`n` as booleans, `1e3` as a float,
 * `012345678` as a number and dates as Date objects; PyYAML reads all of those as strings (dates
 * become `date` objects, which Ansible prints as `YYYY-MM-DD`, the same text). Pure.
 */
import type { ScalarTag, Tags, YAMLError } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import type { SourceText } from '../util/source.ts';
import { LineCounter, parseDocument, type Document } from 'yaml';

const boolTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:bool',
  default: true,
  identify: (v) => typeof v === 'boolean',
  test: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  resolve: (s) => /^(?:yes|true|on)$/i.test(s),
};

function sexagesimal(s: string): number {
  let value = 0;
  for (const part of s.split(':')) value = value * 60 + Number(part);
  return value;
}

const intTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  identify: (v) => typeof v === 'number' && Number.isInteger(v),
  test: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  resolve: (text) => {
    let s = text.replace(/_/g, '');
    let sign = 1;
    if (s.startsWith('-')) sign = -1;
    if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
    if (s === '0') return 0;
    if (s.startsWith('0b')) return sign * Number.parseInt(s.slice(2), 2);
    if (s.startsWith('0x')) return sign * Number.parseInt(s.slice(2), 16);
    if (s.startsWith('0')) return sign * Number.parseInt(s, 8);
    if (s.includes(':')) return sign * sexagesimal(s);
    return sign * Number.parseInt(s, 10);
  },
};

const floatTag: ScalarTag = {
  tag: 'tag:yaml.org,2002:float',
  default: true,
  identify: (v) => typeof v === 'number',
  test: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  resolve: (text) => {
    let s = text.replace(/_/g, '').toLowerCase();
    let sign = 1;
    if (s.startsWith('-')) sign = -1;
    if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
    if (s === '.inf') return sign * Infinity;
    if (s === '.nan') return NaN;
    if (s.includes(':')) return sign * sexagesimal(s);
    return sign * Number(s);
  },
};

const REPLACED = new Set([
  'tag:yaml.org,2002:bool',
  'tag:yaml.org,2002:int',
  'tag:yaml.org,2002:float',
  'tag:yaml.org,2002:timestamp',
]);

function pyyamlTags(tags: Tags): Tags {
  const kept = tags.filter((t) => typeof t === 'string' || !REPLACED.has(t.tag));
  return [...kept, boolTag, intTag, floatTag];
}

export interface ParsedYaml {
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/** Parses like Ansible's loader: YAML 1.1 with PyYAML's scalars, merge keys, duplicates allowed. */
export function parseYaml11(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.1',
    customTags: pyyamlTags,
    uniqueKeys: false,
    merge: true,
    lineCounter,
    prettyErrors: true,
  });
  return { doc, lineCounter };
}

/**
 * A YAML parse error as a Diagnostic. The `yaml` package places some errors (an unclosed quote
 * or flow sequence) at the end of the text; those move back to the end of the last non-blank line.
 */
export function yamlErrorDiagnostic(src: SourceText, e: YAMLError): Diagnostic {
  const first = e.message.split('\n')[0] ?? e.message;
  const message = first.replace(/ at line \d+, column \d+:?$/, '');
  let pos = e.linePos?.[0] ?? src.position(e.pos[0]);
  if (src.line(pos.line).trim() === '') {
    for (let l = pos.line - 1; l >= 1; l--) {
      const text = src.line(l);
      if (text.trim() !== '') {
        pos = { line: l, col: text.trimEnd().length + 1 };
        break;
      }
    }
  }
  return src.diagnostic('error', 'inventory/yaml-syntax', message, pos);
}

/** The Jinja2 subset kpfleet renders in connection variables, and what it refuses. */
import { describe, expect, it } from 'vitest';
import { renderConnectionValue } from '../../../src/desired/connection-template.ts';

const scope = {
  host: 'web1.example.com',
  vars: { ip: '10.0.0.5', n: 7, nested: '{{ ip }}', loop: '{{ loop }}', empty: '', list: [1] },
  env: { KP_HOST: '192.0.2.7', KP_EMPTY: '' },
};
const render = (text: string) => renderConnectionValue(text, scope);

describe('renderConnectionValue', () => {
  it.each([
    ['plain text', 'plain text'],
    ['{{ ip }}', '10.0.0.5'],
    ['{{ip}}', '10.0.0.5'],
    ['10.0.0.{{ n }}', '10.0.0.7'],
    ['{{ nested }}', '10.0.0.5'],
    ['{{ inventory_hostname }}', 'web1.example.com'],
    ['{{ inventory_hostname_short }}.lan', 'web1.lan'],
    ['{{ missing | default("10.9.9.9") }}', '10.9.9.9'],
    ["{{ missing | d('x') }}", 'x'],
    ['{{ missing | default(ip) }}', '10.0.0.5'],
    ['{{ missing | default }}', ''],
    ["{{ empty | default('e') }}", ''],
    ["{{ empty | default('e', true) }}", 'e'],
    ["{{ ip | default('e') }}", '10.0.0.5'],
    ["{{ lookup('env', 'KP_HOST') }}", '192.0.2.7'],
    ['{{ lookup("env", "KP_UNSET") }}', ''],
    ["{{ lookup('env', 'KP_UNSET') | default('d') }}", ''],
    ["{{ lookup('env', 'KP_EMPTY') | default('d', true) }}", 'd'],
  ])('%s → %s', (text, value) => {
    expect(render(text)).toMatchObject({ ok: true, value });
  });

  it('says when a value came from the environment', () => {
    expect(render("{{ lookup('env', 'KP_HOST') }}")).toMatchObject({ fromEnv: true });
    expect(render('{{ ip }}')).toMatchObject({ fromEnv: false });
  });

  it.each([
    ['{{ missing }}', "'missing' is undefined"],
    ["{{ lookup('file', 'x') }}", "lookup('file', ...) is not supported"],
    ["{{ query('env', 'X') }}", 'not supported'],
    ['{{ ip | upper }}', 'the filter `upper` is not supported'],
    ['{{ ip is defined }}', '`is` is not supported'],
    ['{{ a }}.{{ b }}', 'more than one'],
    ['{% if x %}a{% endif %}', '{% ... %}'],
    ['{{ loop }}', "'loop' refers to itself"],
    ['{{ list }}', "'list' is not a string or a number"],
    ['{{ ip ~ "x" }}', 'not supported'],
    ['{{- ip }}', 'whitespace control'],
    ['{{ ip', "without its '}}'"],
    ['{{ hostvars[inventory_hostname] }}', 'not supported'],
    ['{{ foo() }}', 'calling `foo(...)`'],
  ])('refuses %s', (text, why) => {
    const r = render(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toContain(why);
  });
});

describe('a chain of defaults', () => {
  it('renders each variable once: `a | d(a) | d(a) | d(a)` chains made 4^depth renders (hours at 15)', () => {
    let reads = 0;
    const vars: Record<string, string> = {};
    Object.defineProperty(vars, 'a6', { enumerable: true, get: () => (reads++, '10.0.0.1') });
    for (let i = 0; i < 6; i++) {
      const next = `a${String(i + 1)}`;
      vars[`a${String(i)}`] = `{{ ${next} | d(${next}) | d(${next}) | d(${next}) }}`;
    }
    const r = renderConnectionValue('{{ a0 }}', { vars, host: 'h', env: {} });
    expect(r).toEqual({ ok: true, value: '10.0.0.1', fromEnv: false });
    expect(reads).toBe(1);
  });
});

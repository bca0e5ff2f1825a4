/** Values decrypted from Ansible Vault: hidden wherever kpfleet shows a value or writes prose. */
import { describe, expect, it } from 'vitest';
import { jsonWithoutSecrets, oneLine, safeText } from '../../../src/report/safe-text.ts';
import { hideSecret, markSecret, redactSecrets } from '../../../src/util/secrets.ts';
import { showValue } from '../../../src/util/show.ts';

markSecret({ user: 'vaulted-user-name', nested: ['198.51.100.77', 2222], short: 'ab' });

describe('decrypted vault values', () => {
  it('show as <vaulted> alone, in text and in JSON', () => {
    expect(showValue('vaulted-user-name')).toBe('<vaulted>');
    expect(showValue(2222)).toBe('<vaulted>');
    expect(showValue('ab')).toBe('<vaulted>');
    expect(showValue('not-a-secret')).toBe("'not-a-secret'");
    expect(hideSecret('198.51.100.77')).toBe('<vaulted>');
    expect(hideSecret('192.0.2.1')).toBe('192.0.2.1');
  });

  it('are replaced inside text that quotes them (4 characters or more)', () => {
    expect(safeText('ssh: connect to host 198.51.100.77 port 22')).toBe(
      'ssh: connect to host <vaulted> port 22',
    );
    expect(oneLine('user vaulted-user-name\nrefused')).toBe('user <vaulted> ⏎ refused');
    // Too short to search for inside other text: only hidden where shown alone.
    expect(redactSecrets('about')).toBe('about');
    expect(redactSecrets('ab')).toBe('<vaulted>');
  });

  it('leave data fields of JSON alone, and hide them in prose fields', () => {
    const json = jsonWithoutSecrets({
      host: 'h1',
      address: '198.51.100.77',
      error: 'connect to 198.51.100.77 failed',
      steps: [{ reason: 'as vaulted-user-name' }],
    });
    expect(JSON.parse(json)).toEqual({
      host: 'h1',
      address: '198.51.100.77',
      error: 'connect to <vaulted> failed',
      steps: [{ reason: 'as <vaulted>' }],
    });
  });
});

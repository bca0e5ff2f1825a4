/** The markdown helpers of the pull-request comment: untrusted text as code (issue 14 §3). */
import { describe, expect, it } from 'vitest';
import { fence, htmlCode, mdCode, mdCodeCell } from '../../../src/report/markdown.ts';

describe('mdCode', () => {
  it('uses one backtick more than the longest run inside, padded where CommonMark strips', () => {
    expect(mdCode('kpatch_x')).toBe('`kpatch_x`');
    expect(mdCode('a`b')).toBe('``a`b``');
    expect(mdCode('`x`')).toBe('`` `x` ``');
    expect(mdCode(' a ')).toBe('`  a  `');
    expect(mdCode('   ')).toBe('`   `');
    expect(mdCode('')).toBe('` `');
  });

  it('makes control characters and line breaks visible', () => {
    expect(mdCode('a\nb\u001b')).toBe('`a\\nb\\x1b`');
  });
});

describe('mdCodeCell', () => {
  it('escapes pipes for the table, and shows a backslash before a pipe as \\x5c', () => {
    expect(mdCodeCell('a|b')).toBe('`a\\|b`');
    expect(mdCodeCell('a\\|b')).toBe('`a\\x5c\\|b`');
    expect(mdCodeCell('a\\b')).toBe('`a\\b`');
  });
});

describe('htmlCode', () => {
  it('escapes HTML and controls', () => {
    expect(htmlCode('<img src="x">&\'\u202e')).toBe(
      '<code>&lt;img src=&quot;x&quot;&gt;&amp;&#39;\\u202e</code>',
    );
  });
});

describe('fence', () => {
  it('is longer than any run of backticks, at least three', () => {
    expect(fence('no ticks')).toBe('```');
    expect(fence('a ```` b')).toBe('`````');
  });
});

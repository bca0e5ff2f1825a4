/**
 * The readings of an ssh_config line (src/util/ssh-config-words.ts): OpenSSH's strdelim and
 * argv_split as misc.c has them, and the two plain readings under them. The corpus
 * (test/ssh-config-corpus.ts) shows with the real `ssh -G` that these splits are OpenSSH's.
 */
import { describe, expect, it } from 'vitest';
import { argvSplit, readings } from '../../../src/util/ssh-config-words.ts';

const show = (line: string): string[] =>
  readings(line).map((r) =>
    [r.keyword, ...r.args].map((w) => `${w.text}@${String(w.at)}`).join(' '),
  );

describe('readings', () => {
  it('strdelim removes a quote in mid-word and ends the word at the next quote', () => {
    expect(show('Ma"tch"exec "touch M"')).toEqual([
      'Match@0 exec@7 touch M@12', // strdelim
      'Match@0 exec@7 touch M@12', // argv_split after the strdelim keyword
      'Matchexec@0 touch@12 M@19', // quotes dropped
      'Ma@0 tch@3 exec@7 touch@13 M@19', // quotes as blanks
    ]);
  });

  it('skips one empty word and one `=` before the keyword, as readconf.c does', () => {
    expect(show('"" Match exec x')[0]).toBe('Match@3 exec@9 x@14');
    expect(show('=Match exec x')[0]).toBe('Match@1 exec@7 x@12');
    expect(show('Match exec=x')[0]).toBe('Match@0 exec@6 x@11');
  });

  it('a comment, a blank line or trailing blanks give no keyword', () => {
    expect(readings('# ProxyCommand x')).toEqual([]);
    expect(readings('   ')).toEqual([]);
    expect(readings('')).toEqual([]);
    expect(show('User x \t\f')[0]).toBe('User@0 x@5');
  });
});

describe('argvSplit', () => {
  it('quotes anywhere, backslash escapes, a # starting a word ends the line', () => {
    expect(argvSplit(`a\\ b "c d" e'f'g h\\x 'i"j' k#l # m`)?.map((w) => w.text)).toEqual([
      'a b',
      'c d',
      'efg',
      'h\\x',
      'i"j',
      'k#l',
    ]);
  });

  it('an unclosed quote is refused, as ssh refuses the line', () => {
    expect(argvSplit('a "b')).toBeUndefined();
    expect(argvSplit("a 'b")).toBeUndefined();
  });
});

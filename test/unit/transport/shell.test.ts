import fc from 'fast-check';
import { SHELL_SPECIALS } from '../../shell-characters.ts';
import { describe, expect, it } from 'vitest';
import { AppError, ExitCode, UnsafeArgumentError } from '../../../src/errors.ts';
import {
  assertFileName,
  assertKernelRelease,
  assertModuleName,
  assertRemotePath,
  assertRpmName,
  quote,
  sh,
  shellCommand,
  withBecome,
  showCommand,
} from '../../../src/transport/shell.ts';

/**
 * A model of how a POSIX shell splits the words `quote` produces: blanks separate words, `'…'`
 * is literal, `\x` outside quotes is `x`. Any other unquoted character that a shell treats
 * specially is an error: the quoted output must contain none.
 */
function splitWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  while (i < command.length) {
    const c = command.charAt(i);
    if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated quote in ${JSON.stringify(command)}`);
      word = (word ?? '') + command.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\') {
      word = (word ?? '') + command.charAt(i + 1);
      i += 2;
    } else if (/[A-Za-z0-9_./:=@%+,-]/.test(c)) {
      word = (word ?? '') + c;
      i++;
    } else {
      throw new Error(`unquoted ${JSON.stringify(c)} in ${JSON.stringify(command)}`);
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

const hasNoNul = (s: string): boolean => !s.includes('\0') && !/\p{Cs}/u.test(s);
const nasty = fc.constantFrom(...SHELL_SPECIALS);
const anyWord = fc
  .oneof(fc.string({ unit: 'binary' }), fc.string({ unit: nasty }), fc.string())
  .filter(hasNoNul);

describe('quote', () => {
  it('reads back as the same single word', () => {
    fc.assert(
      fc.property(anyWord, (s) => {
        expect(splitWords(quote(s))).toEqual([s]);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves safe words bare and quotes everything else', () => {
    expect(quote('kpatch_cve_1')).toBe('kpatch_cve_1');
    expect(quote('/var/lib/kpatch/5.14.0-427.el9.x86_64/a.ko')).toBe(
      '/var/lib/kpatch/5.14.0-427.el9.x86_64/a.ko',
    );
    expect(quote('--foo=bar,baz@x:1%+')).toBe('--foo=bar,baz@x:1%+');
    expect(quote('')).toBe("''");
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe(`'it'\\''s'`);
    expect(quote('$(reboot)')).toBe("'$(reboot)'");
    expect(quote('~')).toBe("'~'");
    expect(quote('*')).toBe("'*'");
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_./:=@%+,-]+$/), (s) => {
        expect(quote(s)).toBe(s);
      }),
    );
  });

  it('rejects a NUL byte with a typed error (exit 70)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const value = `${a}\0${b}`;
        let thrown: unknown;
        try {
          quote(value);
        } catch (e) {
          thrown = e;
        }
        expect(thrown).toBeInstanceOf(UnsafeArgumentError);
        expect(thrown).toBeInstanceOf(AppError);
        const err = thrown as UnsafeArgumentError;
        expect(err.code).toBe('E_UNSAFE_ARGUMENT');
        expect(err.exitCode).toBe(ExitCode.internal);
        expect(err.value).toBe(value);
        expect(err.message).toContain('NUL');
      }),
      { numRuns: 200 },
    );
    expect(() => quote('a\0b')).toThrow(/shell argument "a\\u0000b"/);
  });

  it('rejects a lone surrogate, which UTF-8 cannot carry', () => {
    expect(() => quote('a\ud800')).toThrow(UnsafeArgumentError);
    expect(quote('😀')).toBe("'😀'");
  });
});

describe('shellCommand', () => {
  it('splits back into the same argv', () => {
    fc.assert(
      fc.property(fc.array(anyWord, { minLength: 1, maxLength: 8 }), (argv) => {
        expect(splitWords(shellCommand(argv))).toEqual(argv);
      }),
      { numRuns: 1000 },
    );
  });
  it('quotes a first word that would read as an assignment or a reserved word', () => {
    expect(shellCommand(['kpatch', 'load', '/a b.ko'])).toBe("kpatch load '/a b.ko'");
    expect(shellCommand(['A=b', 'c=d'])).toBe("'A=b' c=d");
    expect(shellCommand(['if', 'x'])).toBe("'if' x");
    expect(shellCommand(['time'])).toBe("'time'");
    expect(() => shellCommand([])).toThrow(UnsafeArgumentError);
  });
});

describe('sh template', () => {
  it('quotes every interpolation and spreads arrays as words', () => {
    const path = "/var/lib/kpatch/it's here.ko";
    expect(sh`kpatch load ${path}`).toBe(`kpatch load '/var/lib/kpatch/it'\\''s here.ko'`);
    expect(sh`rpm -q ${['a', 'b c']} 2>/dev/null`).toBe("rpm -q a 'b c' 2>/dev/null");
    expect(sh`echo ${[]}x`).toBe('echo x');
    expect(sh`sleep ${5}`).toBe('sleep 5');
    expect(sh`printf '%s\n' ${'$x'}`).toBe("printf '%s\\n' '$x'");
    expect(() => sh`echo ${'\0'}`).toThrow(UnsafeArgumentError);
  });
  it('splits back into literal words plus the values', () => {
    fc.assert(
      fc.property(anyWord, fc.array(anyWord, { maxLength: 4 }), (one, many) => {
        expect(splitWords(sh`cmd ${one} -- ${many}`)).toEqual(['cmd', one, '--', ...many]);
      }),
    );
  });
});

describe('withBecome', () => {
  it('runs the whole command under sudo -n -- sh -c, never prompting', () => {
    expect(withBecome('kpatch list', 'none')).toBe('kpatch list');
    expect(withBecome('kpatch list', 'sudo')).toBe("sudo -n -- sh -c 'kpatch list'");
    expect(withBecome("echo 'x' | cat", 'sudo')).toBe(`sudo -n -- sh -c 'echo '\\''x'\\'' | cat'`);
    fc.assert(
      fc.property(anyWord, (cmd) => {
        expect(splitWords(withBecome(cmd, 'sudo'))).toEqual(['sudo', '-n', '--', 'sh', '-c', cmd]);
      }),
    );
  });
});

/** The typed error a validator throws, or undefined. */
function rejection(fn: () => void): UnsafeArgumentError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(UnsafeArgumentError);
    return e as UnsafeArgumentError;
  }
}

describe('validators', () => {
  it('assertModuleName', () => {
    for (const ok of ['kpatch_cve_2024_1', 'a', 'X'.repeat(55), 'livepatch_1_2']) {
      expect(rejection(() => assertModuleName(ok))).toBeUndefined();
    }
    for (const bad of ['', 'X'.repeat(56), 'kpatch-cve', 'a b', 'a;reboot', '../x', 'é']) {
      const err = rejection(() => assertModuleName(bad));
      expect(err?.message).toContain(`module name ${JSON.stringify(bad)}`);
      expect(err?.field).toBe('module name');
    }
    expect(rejection(() => assertModuleName('a-b', 'patches.foo.module'))?.message).toMatch(
      /^refusing to pass patches\.foo\.module "a-b" to a shell/,
    );
  });

  it('assertKernelRelease', () => {
    for (const ok of [
      '5.14.0-427.13.1.el9_4.x86_64',
      '6.1.0-18-amd64',
      '4.18.0-513.el8.x86_64+debug',
      '6.8.0-rc1~test',
      'a'.repeat(128),
    ]) {
      expect(rejection(() => assertKernelRelease(ok))).toBeUndefined();
    }
    for (const bad of [
      '',
      '-rf',
      'a'.repeat(129),
      '5.14 x',
      '5.14;id',
      '5.14\n',
      '5/14',
      '$(id)',
    ]) {
      expect(rejection(() => assertKernelRelease(bad))?.message).toContain(
        `kernel release ${JSON.stringify(bad)}`,
      );
    }
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (s) => {
        const valid = /^[A-Za-z0-9._+~][A-Za-z0-9._+~-]{0,127}$/.test(s);
        expect(rejection(() => assertKernelRelease(s)) === undefined).toBe(valid);
      }),
    );
  });

  it('assertRemotePath', () => {
    for (const ok of ['/', '/var/lib/kpatch/a b.ko', "/tmp/it's", '/a/./b', '/a/..b/c..']) {
      expect(rejection(() => assertRemotePath(ok))).toBeUndefined();
    }
    for (const bad of ['', 'relative/x', '/a/../b', '/..', '/a/..', '/a\nb', '/a\0b', '/a\rb']) {
      expect(rejection(() => assertRemotePath(bad))?.message).toContain(
        `remote path ${JSON.stringify(bad)}`,
      );
    }
    expect(rejection(() => assertRemotePath('/a\0b'))?.message).toContain('"/a\\u0000b"');
  });

  it('assertRpmName', () => {
    for (const ok of [
      'kpatch-patch-5_14_0-427_13_1',
      'kpatch-patch-5_14_0-427-1-3.el9.x86_64',
      'kpatch-patch-5_14_0-427-0:1-3.el9',
      'libstdc++',
      'foo-1.0~rc1^git1',
    ]) {
      expect(rejection(() => assertRpmName(ok))).toBeUndefined();
    }
    for (const bad of ['', '-y', 'kpatch*', 'a b', 'a;b', '.hidden', 'a/b']) {
      expect(rejection(() => assertRpmName(bad))?.message).toContain(
        `RPM name ${JSON.stringify(bad)}`,
      );
    }
    // A long value is shown cut in the middle; the error keeps all of it.
    const long = `${'a'.repeat(200)}*${'b'.repeat(100)}`;
    const err = rejection(() => assertRpmName(long));
    expect(err?.value).toBe(long);
    expect(err?.message).toContain(`RPM name "${'a'.repeat(100)}…${'b'.repeat(40)}"`);
  });

  it('assertFileName: a name without its folder; a leading "-" is allowed (the command ends its options)', () => {
    for (const ok of ['livepatch-foo.ko', '-foo.ko', '--help', 'a b.ko', '..ko', 'x'.repeat(255)]) {
      expect(rejection(() => assertFileName(ok))).toBeUndefined();
    }
    for (const bad of ['', '.', '..', 'a/b.ko', '../x.ko', 'a\nb.ko', 'a\rb', 'x'.repeat(256)]) {
      expect(rejection(() => assertFileName(bad))?.message).toContain(
        `file name ${JSON.stringify(bad.length > 160 ? `${bad.slice(0, 100)}…${bad.slice(-40)}` : bad)}`,
      );
    }
    expect(rejection(() => assertFileName('a\0b'))?.code).toBe('E_UNSAFE_ARGUMENT');
  });

  it('every accepted name is a safe bare word', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_]{1,55}$/), (name) => {
        assertModuleName(name);
        expect(quote(name)).toBe(name);
      }),
    );
  });
});

describe('showCommand', () => {
  it('quotes every word a hint prints, so that a pasted hint runs only what it says', () => {
    expect(showCommand(['ssh', '-G', '-l', '$(id)', '--', 'web1'])).toBe(
      "ssh -G -l '$(id)' -- web1",
    );
    expect(
      showCommand(['ssh-keygen', '-f', '/home/a b/known_hosts', '-R', '[10.0.0.5]:2222']),
    ).toBe("ssh-keygen -f '/home/a b/known_hosts' -R '[10.0.0.5]:2222'");
    expect(showCommand(['echo', "it's", ''])).toBe("echo 'it'\\''s' ''");
  });

  it("writes control characters as $'…' escapes, never raw, and never throws", () => {
    expect(showCommand(['a\nb', 'x\x1b[2J', 'c\u0085d', 'nul\0', 'e\ud800f'])).toBe(
      "$'a\\nb' $'x\\e[2J' $'c\\xc2\\x85d' $'nul\\x00' $'e\\xef\\xbf\\xbdf'",
    );
  });
});

/**
 * fnmatch-style globs (`*`, `?`, `[...]`), as Ansible patterns and kpfleet's `kernel:` field use
 * them. Pure.
 */

const cache = new Map<string, RegExp>();

export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

export function globToRegExp(glob: string): RegExp {
  const cached = cache.get(glob);
  if (cached) return cached;
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
      } else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  const compiled = new RegExp('^' + re + '$', 's');
  cache.set(glob, compiled);
  return compiled;
}

export function globMatch(glob: string, value: string): boolean {
  return isGlob(glob) ? globToRegExp(glob).test(value) : glob === value;
}

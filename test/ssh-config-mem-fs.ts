/**
 * An in-memory tree for the pure readers of OpenSSH config files (the project scan, the `ssh -G`
 * grouping): absolute path → text, folders implied by the paths.
 */
import type { SshConfigFs } from '../src/util/ssh-config-files.ts';

export function memFs(files: Record<string, string>): SshConfigFs {
  return {
    readFile: (p) => files[p],
    readdir: (dir) => {
      const prefix = dir === '/' ? '/' : `${dir}/`;
      const names = Object.keys(files)
        .filter((p) => p.startsWith(prefix))
        .map((p) => p.slice(prefix.length).split('/')[0] ?? '');
      return [...new Set(names)];
    },
  };
}

/**
 * An inventory inside the project reads only files that really are in it: a committed symlink
 * (`inventory/zz -> ~/.ssh/id_ed25519`, `group_vars/all.yml -> ../.git/config`), or a file under
 * a linked folder, is refused at the link and never read, so no parse error can quote what it
 * points at. What "in the project" means is the loader's (config/project-files.ts); inventory/
 * only applies the test it is given.
 */
import type { Diagnostic } from '../diagnostics.ts';

/** Whether a path, symlinks followed, really lies inside the project. */
export type InProjectTest = (path: string) => boolean;

/**
 * The error that refuses `path` (shown as `display`) when `inProject` is given and says it is not
 * in the project; undefined when it may be read.
 */
export function outsideProject(
  path: string,
  display: string,
  inProject: InProjectTest | undefined,
): Diagnostic | undefined {
  if (inProject === undefined || inProject(path)) return undefined;
  return {
    severity: 'error',
    code: 'inventory/outside-project',
    message:
      'not read: the inventory is in the project, but this is a link to a file or folder outside it (or inside .git); kpfleet reads no such file for an inventory of the project',
    file: display,
    hint: 'remove the link and copy what the inventory needs into the project (never a secret), or point kpfleet.yml at an inventory outside the project',
  };
}

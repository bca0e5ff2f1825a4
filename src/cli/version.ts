import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** kpfleet's version, from package.json (the same file in src/ and dist/ layouts). */
export const VERSION: string = pkg.version;

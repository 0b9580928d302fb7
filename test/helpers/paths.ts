import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root: the nearest folder above this file with our package.json. */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cynod-switch') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('project root not found');
    dir = up;
  }
})();

/** Public interop vectors, read in place (never copied into the project). */
export const VECTORS = join(ROOT, '..', 'shared', 'vectors');

export function vector(path: string): Buffer {
  return readFileSync(join(VECTORS, path));
}

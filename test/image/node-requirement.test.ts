import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// One Node requirement everywhere: package.json engines is the floor every production dependency sets,
// the docs state that same floor, and the image runs the exact Node the repository pins.

const ROOT = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(read('package-lock.json')) as {
  packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }>;
};

const version = (text: string) => text.split('.').map(Number) as [number, number, number];
const compare = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || (a[2] ?? 0) - (b[2] ?? 0);

describe('Node requirement', () => {
  const floor = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];

  it('is the highest floor of the production dependencies', () => {
    expect(floor, 'engines.node must read >=X.Y.Z').toBeDefined();
    const floors = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && !entry.dev && !Array.isArray(entry.engines))
      .map(
        ([, entry]) =>
          /^>=\s*(\d+(?:\.\d+){0,2})$/.exec((entry.engines as { node?: string })?.node ?? '')?.[1],
      )
      .filter((found): found is string => found !== undefined)
      .map((found) => version(`${found}.0.0`.split('.').slice(0, 3).join('.')));
    const highest = floors.sort(compare).at(-1)!;
    expect(compare(version(floor!), highest)).toBe(0);
  });

  it('is what the README and the Pulumi guide say', () => {
    const [major, minor] = version(floor!);
    for (const doc of ['README.md', 'docs/pulumi.md']) {
      const stated = [...read(doc).matchAll(/Node ≥ (\d+(?:\.\d+)?)/g)].map((match) => match[1]);
      expect(stated.length, doc).toBeGreaterThan(0);
      expect(new Set(stated), doc).toEqual(new Set([`${major}.${minor}`]));
    }
  });

  it('is met by the Node the repository pins, which the image and its local base use', () => {
    const pinned = pkg.devDependencies.node!;
    expect(compare(version(pinned), version(floor!))).toBeGreaterThanOrEqual(0);
    expect(read('Dockerfile')).toContain(`ARG NODE_IMAGE=node:${pinned}-bookworm-slim`);
  });
});

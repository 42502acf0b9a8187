import { InvalidVersion, MissingHeader, UnsupportedVersion } from '../../lib/http/errors.ts';

/**
 * CDS endpoint versioning: the client asks for `x-v` (required, the highest version it accepts) and
 * optionally `x-min-v` (the lowest); the holder answers with the highest version it supports within that
 * range, named in the response's `x-v`, or 406 Header/UnsupportedVersion. An `x-min-v` not below `x-v`
 * is treated as absent, as the standard says.
 */
export function negotiateVersion(
  headers: Record<string, string | string[] | undefined>,
  supported: readonly number[],
): number {
  const requested = headers['x-v'];
  if (requested === undefined) throw new MissingHeader('x-v is required');
  const highest = versionNumber(requested, 'x-v');
  const minimum = headers['x-min-v'] === undefined ? highest : versionNumber(headers['x-min-v'], 'x-min-v');
  const lowest = Math.min(minimum, highest);
  const chosen = supported
    .filter((version) => version >= lowest && version <= highest)
    .sort((a, b) => b - a)[0];
  if (chosen === undefined) {
    throw new UnsupportedVersion(
      `no supported version between ${lowest} and ${highest}; this endpoint supports ${supported.join(', ')}`,
    );
  }
  return chosen;
}

function versionNumber(value: string | string[], name: string): number {
  if (typeof value !== 'string' || !/^[1-9]\d{0,5}$/.test(value)) {
    throw new InvalidVersion(`${name} must be a positive integer`);
  }
  return Number(value);
}

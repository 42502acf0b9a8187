import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureOptionsFrom } from '../../scripts/lib/configure.ts';
import { readGivenRecipient } from '../../scripts/lib/smoke.ts';

/** The flags `obkit configure`, `obkit smoke` and their scripts share, read the same way by each. */

let dir: string;
let ssaFile: string;
let keyFile: string;
const key = { kty: 'EC', crv: 'P-256', kid: 'k1', alg: 'ES256', x: 'x', y: 'y', d: 'd' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-flags-'));
  ssaFile = join(dir, 'ssa.jwt');
  keyFile = join(dir, 'key.json');
  await writeFile(ssaFile, 'header.payload.signature\n');
  await writeFile(keyFile, JSON.stringify(key));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('--ssa and --signing-key', () => {
  it('read the SSA (trimmed) and the private JWK', async () => {
    expect(await readGivenRecipient({ ssa: ssaFile, 'signing-key': keyFile })).toEqual({
      ssa: 'header.payload.signature',
      signingKey: key,
    });
  });

  it('are optional; an SSA needs its signing key, a signing key alone is for the sandbox Register', async () => {
    expect(await readGivenRecipient({})).toBeUndefined();
    await expect(readGivenRecipient({ ssa: ssaFile })).rejects.toThrow('--ssa needs --signing-key');
    expect(await readGivenRecipient({ 'signing-key': keyFile })).toEqual({ signingKey: key });
  });
});

describe('configure flags', () => {
  it('map to the configure options, smoke test on unless --no-smoke', async () => {
    expect(await configureOptionsFrom({})).toEqual({ smoke: true });
    expect(
      await configureOptionsFrom({
        definition: 'api.yaml',
        insequence: 'seq.xml',
        trust: ['a.pem', 'b.pem'],
        'no-smoke': true,
        ssa: ssaFile,
        'signing-key': keyFile,
      }),
    ).toEqual({
      smoke: false,
      definitionFile: 'api.yaml',
      inSequenceFile: 'seq.xml',
      trustCertificates: ['a.pem', 'b.pem'],
      given: { ssa: 'header.payload.signature', signingKey: key },
    });
  });
});

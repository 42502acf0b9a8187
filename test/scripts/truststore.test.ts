import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../../lib/pki/index.ts';
import { readPkcs12Truststore } from '../../scripts/lib/pkcs12.ts';
import {
  addCertificates,
  editTruststore,
  isTruststoreAction,
  listCertificates,
  openTruststore,
  readCertificateFiles,
  removeCertificates,
} from '../../scripts/lib/truststore.ts';

let dir: string;
let rootFile: string;
let issuingFile: string;
let leafFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-truststore-'));
  const root = await createCertificateAuthority('CDR Root CA');
  const issuing = await createCertificateAuthority('CDR Issuing CA', root);
  const leaf = await issueCertificate(issuing, { commonName: 'recipient', usage: 'client' });
  rootFile = join(dir, 'root.pem');
  issuingFile = join(dir, 'issuing.pem');
  leafFile = join(dir, 'leaf.pem');
  await writeFile(rootFile, root.certificatePem);
  await writeFile(issuingFile, issuing.certificatePem);
  await writeFile(leafFile, leaf.certificatePem);
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('PEM truststore (native targets)', () => {
  it('adds under aliases, reports unchanged on a re-run, replaces a changed alias, removes', async () => {
    const store = openTruststore(join(dir, 'truststore.pem'), 'pem');
    const first = await addCertificates(store, [
      ...(await readCertificateFiles([rootFile], 'cdr-root')),
      ...(await readCertificateFiles([issuingFile], 'cdr-issuing')),
    ]);
    expect(first.status).toBe('updated');
    expect(first.data?.aliases).toEqual(['cdr-root', 'cdr-issuing']);

    const again = await addCertificates(store, await readCertificateFiles([rootFile, issuingFile]));
    expect(again.status).toBe('unchanged');
    expect(again.actions.join('\n')).toContain('already trusted as cdr-root');

    const text = await readFile(store.path, 'utf8');
    expect(text).toContain('friendlyName: cdr-root');
    // TLS stacks read the bundle with its alias lines: both CAs verify a recipient's chain.
    const context = tls.createSecureContext({ ca: text });
    expect(context).toBeDefined();

    const other = await createCertificateAuthority('Another CA');
    await writeFile(join(dir, 'other.pem'), other.certificatePem);
    const replaced = await addCertificates(
      store,
      await readCertificateFiles([join(dir, 'other.pem')], 'cdr-root'),
    );
    expect(replaced.status).toBe('updated');
    expect(replaced.actions[0]).toMatch(/cdr-root: replaced/);

    const removed = await removeCertificates(store, ['cdr-root', 'absent']);
    expect(removed.status).toBe('updated');
    expect((await listCertificates(store)).data?.certificates).toMatchObject([{ alias: 'cdr-issuing' }]);
    expect((await removeCertificates(store, ['cdr-root'])).status).toBe('unchanged');
  });

  it('refuses a leaf certificate: truststores hold CAs', async () => {
    await expect(readCertificateFiles([leafFile])).rejects.toThrow(/is not a CA certificate/);
  });
});

describe('obkit truststore and scripts/load-truststore.ts actions', () => {
  it('add, list and remove by alias; add and remove need arguments', async () => {
    const store = openTruststore(join(dir, 'actions.pem'), 'pem');
    expect((await editTruststore(store, 'add', [rootFile], 'cdr-root')).status).toBe('updated');
    const listed = (await editTruststore(store, 'list', [])).data?.certificates as { alias: string }[];
    expect(listed.map((entry) => entry.alias)).toEqual(['cdr-root']);
    await expect(editTruststore(store, 'add', [])).rejects.toThrow('add needs certificate files');
    await expect(editTruststore(store, 'remove', [])).rejects.toThrow('remove needs aliases');
    expect((await editTruststore(store, 'remove', ['cdr-root'])).status).toBe('updated');
    expect(isTruststoreAction('list') && !isTruststoreAction('import')).toBe(true);
  });
});

describe('PKCS12 truststore (WSO2 targets)', () => {
  it('writes a truststore keytool lists as trusted entries, and reads it back', async () => {
    const path = join(dir, 'client-truststore.p12');
    const store = openTruststore(path, 'pkcs12', 'wso2carbon');
    expect(
      (await addCertificates(store, await readCertificateFiles([rootFile, issuingFile], 'cdr'))).status,
    ).toBe('updated');
    expect(
      (await addCertificates(store, await readCertificateFiles([rootFile, issuingFile], 'cdr'))).status,
    ).toBe('unchanged');
    const entries = readPkcs12Truststore(await readFile(path), 'wso2carbon');
    expect(entries.map((e) => e.alias)).toEqual(['cdr', 'cdr-2']);
    expect(new X509Certificate(entries[0]!.pem).subject).toContain('CN=CDR Root CA');
    expect(() => readPkcs12Truststore(Buffer.from(readFileSyncBuffer(path)), 'wrong')).toThrow(
      /integrity check failed/,
    );

    const keytool = ['/usr/bin/keytool', `${process.env.JAVA_HOME ?? ''}/bin/keytool`].find((p) =>
      existsSync(p),
    );
    if (!keytool) {
      console.log('skipping the keytool check: no keytool on this machine');
      return;
    }
    const listing = execFileSync(
      keytool,
      ['-list', '-keystore', path, '-storetype', 'PKCS12', '-storepass', 'wso2carbon'],
      {
        encoding: 'utf8',
      },
    );
    expect(listing).toContain('Your keystore contains 2 entries');
    expect(listing).toMatch(/^cdr, .*trustedCertEntry/m);
    expect(listing).toMatch(/^cdr-2, .*trustedCertEntry/m);
  });
});

function readFileSyncBuffer(path: string): Buffer {
  return (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readFileSync(path);
}

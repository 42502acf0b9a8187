import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvironmentManifest } from '../../lib/config/environment-manifest.ts';
import { createCertificateAuthority, issueCertificate } from '../../lib/pki/index.ts';
import { findKeytool, KeytoolMissingError } from '../../scripts/lib/jks.ts';
import { readPkcs12Truststore } from '../../scripts/lib/pkcs12.ts';
import {
  addCertificates,
  checkCertificates,
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

  it('a dry run (configure --plan) says what it would add or replace and writes nothing', async () => {
    const store = openTruststore(join(dir, 'planned.pem'), 'pem');
    const planned = await addCertificates(
      store,
      await readCertificateFiles([rootFile], 'cdr'),
      undefined,
      true,
    );
    expect(planned.status).toBe('updated');
    expect(planned.data?.changes).toEqual([{ action: 'create', subject: 'truststore entry cdr' }]);
    expect(existsSync(store.path)).toBe(false);
    await addCertificates(store, await readCertificateFiles([rootFile], 'cdr'));
    const replaced = await addCertificates(
      store,
      await readCertificateFiles([issuingFile], 'cdr'),
      undefined,
      true,
    );
    expect(replaced.data?.changes).toEqual([
      { action: 'update', subject: 'truststore entry cdr', fields: [`certificate (from ${issuingFile})`] },
    ]);
    const kept = (await store.read()).map((entry) => new X509Certificate(entry.pem).subject);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toContain('CN=CDR Root CA');
    const same = await addCertificates(store, await readCertificateFiles([rootFile], 'cdr'), undefined, true);
    expect(same.data).toMatchObject({ changes: [], kept: ['cdr: already trusted'] });
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

describe('truststore on Kubernetes (a read-only Secret mount)', () => {
  // A manifest as the chart renders it for release "bank" (charts/obkit/templates/environment.yaml).
  const target = () => ({
    manifest: parseEnvironmentManifest(
      {
        mode: 'production',
        namespace: 'cdr',
        services: {
          identityServer: { url: 'https://bank-obkit-identity-server:9446' },
          apiManager: { url: 'https://bank-obkit-api-manager:9443' },
          gateway: { url: 'https://bank-obkit-gateway:8243' },
        },
        publicGatewayUrl: 'https://cdr.bank.example:8243',
        tls: { caBundle: join(dir, 'ca.pem'), truststore: join(dir, 'k8s-truststore.pem') },
        admin: { usernameEnv: 'OBKIT__OBKIT__ADMIN__USERNAME', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
        kubernetes: { deployments: ['bank-obkit-gateway'], truststoreSecret: 'bank-obkit-truststore' },
      },
      dir,
    ),
  });

  it('takes the release names from the manifest, not a guess', () => {
    expect(target().manifest.kubernetes).toEqual({
      namespace: 'cdr',
      deployments: ['bank-obkit-gateway'],
      truststoreSecret: 'bank-obkit-truststore',
    });
  });

  it('add and remove refuse to edit the mounted file and say how to change the Secret', async () => {
    const path = join(dir, 'k8s-truststore.pem');
    const store = openTruststore(path, 'pem');
    for (const [action, args] of [
      ['add', [rootFile]],
      ['remove', ['cdr-root']],
    ] as const) {
      const refused = editTruststore(store, action, [...args], undefined, target());
      await expect(refused).rejects.toThrow(/Secret bank-obkit-truststore in namespace cdr/);
      await expect(refused).rejects.toThrow(/pulumi config set extraCaCertificates/);
      await expect(refused).rejects.toThrow(/kubectl -n cdr create secret generic bank-obkit-truststore/);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('the configure step checks the mounted bundle: unchanged when trusted, the advice when not', async () => {
    const path = join(dir, 'k8s-mounted.pem');
    await writeFile(path, await readFile(rootFile, 'utf8'));
    const store = openTruststore(path, 'pem');
    const before = await readFile(path, 'utf8');
    expect((await checkCertificates(store, await readCertificateFiles([rootFile]), target())).status).toBe(
      'unchanged',
    );
    await expect(
      checkCertificates(store, await readCertificateFiles([issuingFile]), target()),
    ).rejects.toThrow(
      /cdr-issuing-ca not in the truststore; the truststore of a Kubernetes deployment is the Secret/,
    );
    expect(await readFile(path, 'utf8')).toBe(before);
  });
});

describe('PKCS12 truststore (WSO2 targets)', () => {
  it('writes a PKCS12 truststore and reads it back', async () => {
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
  });

  const keytool = findKeytool();
  it.skipIf(!keytool)('writes a PKCS12 truststore that keytool lists as trusted entries', async () => {
    const path = join(dir, 'keytool-listed.p12');
    const store = openTruststore(path, 'pkcs12', 'wso2carbon');
    await addCertificates(store, await readCertificateFiles([rootFile, issuingFile], 'cdr'));
    const listing = execFileSync(
      keytool!,
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

describe('JKS truststore (WSO2 targets: client-truststore.jks)', () => {
  const keytool = findKeytool();
  it.skipIf(!keytool)(
    'adds, keeps entries it did not write, replaces and removes, through keytool',
    async () => {
      const path = join(dir, 'client-truststore.jks');
      // A WSO2 truststore already holds other CAs (and wso2carbon): obkit must leave them alone.
      const other = await createCertificateAuthority('Other Public CA');
      await writeFile(join(dir, 'other.pem'), other.certificatePem);
      execFileSync(keytool!, [
        '-importcert',
        '-noprompt',
        '-alias',
        'publicca',
        '-file',
        join(dir, 'other.pem'),
        '-keystore',
        path,
        '-storetype',
        'JKS',
        '-storepass',
        'wso2carbon',
      ]);
      const store = openTruststore(path, 'jks', 'wso2carbon');
      const inputs = await readCertificateFiles([rootFile, issuingFile], 'cdr');
      expect((await addCertificates(store, inputs)).status).toBe('updated');
      expect((await addCertificates(store, inputs)).status).toBe('unchanged');
      const listing = execFileSync(keytool!, ['-list', '-keystore', path, '-storepass', 'wso2carbon'], {
        encoding: 'utf8',
      });
      expect(listing).toMatch(/^Keystore type: JKS/m);
      expect(listing).toMatch(/^publicca, .*trustedCertEntry/m);
      expect(listing).toMatch(/^cdr, .*trustedCertEntry/m);
      expect(listing).toMatch(/^cdr-2, .*trustedCertEntry/m);
      const replaced = await addCertificates(store, await readCertificateFiles([issuingFile], 'cdr'));
      expect(replaced.actions.join()).toMatch(/already trusted as cdr-2/);
      expect((await removeCertificates(store, ['cdr-2'])).status).toBe('updated');
      expect((await store.read()).map((e) => e.alias).sort()).toEqual(['cdr', 'publicca']);
      await expect(openTruststore(path, 'jks', 'not-the-password').read()).rejects.toThrow(
        /keytool -list failed/,
      );
    },
    180_000, // a dozen JVM starts: slow on a loaded machine, not a measure of anything
  );

  it('without keytool, says what to install or use instead', async () => {
    const saved = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME, KEYTOOL: process.env.KEYTOOL };
    Object.assign(process.env, { PATH: '/nonexistent' });
    delete process.env.JAVA_HOME;
    delete process.env.KEYTOOL;
    try {
      await writeFile(join(dir, 'exists.jks'), 'x');
      const store = openTruststore(join(dir, 'exists.jks'), 'jks', 'wso2carbon');
      const error = await store.read().catch((e: Error) => e);
      expect(error).toBeInstanceOf(KeytoolMissingError);
      expect((error as Error).message).toMatch(/keytool from a JDK.*--truststore FILE\.p12.*type = "PKCS12"/);
    } finally {
      for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
    }
  });
});

function readFileSyncBuffer(path: string): Buffer {
  return (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readFileSync(path);
}

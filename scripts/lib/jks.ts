import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { $ } from 'zx';
import { type TrustedCertificate, writePkcs12Truststore } from './pkcs12.ts';

/**
 * A JKS truststore, WSO2's default (`repository/resources/security/client-truststore.jks`), read and
 * written by the JDK's own `keytool`: obkit never writes the JKS format itself. Entries other than the
 * ones obkit changes are left alone (a WSO2 truststore also holds the public CAs and wso2carbon), and the
 * store password reaches keytool through its environment, never its command line.
 */

const PASSWORD_VARIABLE = 'OBKIT_KEYTOOL_STOREPASS';

export class KeytoolMissingError extends Error {
  constructor() {
    super(
      'a JKS truststore is read and written with keytool from a JDK (Java 17 or later), and none was found ' +
        '(KEYTOOL, JAVA_HOME/bin, PATH). Install a JDK, or give --truststore FILE.p12 and configure WSO2 with ' +
        '[truststore] type = "PKCS12" in deployment.toml',
    );
    this.name = 'KeytoolMissingError';
  }
}

/** `KEYTOOL`, else `$JAVA_HOME/bin/keytool`, else `keytool` on PATH; undefined when there is none. */
export function findKeytool(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env.KEYTOOL,
    env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'keytool') : undefined,
    ...(env.PATH ?? '').split(delimiter).map((dir) => (dir ? join(dir, 'keytool') : undefined)),
  ];
  return candidates.find((file): file is string => Boolean(file && existsSync(file)));
}

async function keytool(args: string[], password: string): Promise<string> {
  const binary = findKeytool();
  if (!binary) throw new KeytoolMissingError();
  const env = { ...process.env, [PASSWORD_VARIABLE]: password };
  const output = await $({
    env,
    quiet: true,
    nothrow: true,
  })`${binary} ${args} -storepass:env ${PASSWORD_VARIABLE}`;
  if (output.ok) return output.stdout;
  const detail = `${output.stdout}${output.stderr}`.trim() || `exit code ${output.exitCode}`;
  throw new Error(`keytool ${args[0]} failed: ${detail.split('\n')[0]}`);
}

export async function readJksTruststore(path: string, password: string): Promise<TrustedCertificate[]> {
  if (!existsSync(path)) return [];
  const listing = await keytool(['-list', '-rfc', '-keystore', path, '-storetype', 'JKS'], password);
  const entries: TrustedCertificate[] = [];
  for (const block of listing.split(/^Alias name: /m).slice(1)) {
    const alias = block.slice(0, block.indexOf('\n')).trim();
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(block)?.[0];
    if (pem && /Entry type: trustedCertEntry/.test(block)) entries.push({ alias, pem: `${pem}\n` });
  }
  return entries;
}

/**
 * Makes the store's trusted certificates `entries`: deletes the aliases no longer wanted or changed,
 * imports the new ones from a PKCS12 file in one keytool call, all on a copy that replaces the store at
 * the end (a server reading it never sees half a change).
 */
export async function writeJksTruststore(
  path: string,
  entries: TrustedCertificate[],
  password: string,
): Promise<void> {
  const current = await readJksTruststore(path, password);
  const same = (a: TrustedCertificate, b: TrustedCertificate) =>
    a.alias === b.alias && a.pem.trim() === b.pem.trim();
  const removed = current.filter((entry) => !entries.some((wanted) => same(entry, wanted)));
  const added = entries.filter((wanted) => !current.some((entry) => same(entry, wanted)));
  const work = await mkdtemp(join(tmpdir(), 'obkit-jks-'));
  try {
    const copy = join(work, 'truststore.jks');
    if (existsSync(path)) await copyFile(path, copy);
    for (const entry of removed)
      await keytool(['-delete', '-alias', entry.alias, '-keystore', copy], password);
    if (added.length) {
      const source = join(work, 'added.p12');
      await writeFile(source, writePkcs12Truststore(added, password), { mode: 0o600 });
      await keytool(
        [
          '-importkeystore',
          '-noprompt',
          '-srckeystore',
          source,
          '-srcstoretype',
          'PKCS12',
          '-srcstorepass:env',
          PASSWORD_VARIABLE,
          '-destkeystore',
          copy,
          '-deststoretype',
          'JKS',
        ],
        password,
      );
    }
    const staged = join(dirname(path), `.${process.pid}.truststore.jks`);
    await copyFile(copy, staged);
    await rename(staged, path);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

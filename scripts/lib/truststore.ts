import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TruststoreFormat } from '../../lib/config/environment-manifest.ts';
import { splitPemBundle } from '../../lib/pki/index.ts';
import { readJksTruststore, writeJksTruststore } from './jks.ts';
import { readPkcs12Truststore, type TrustedCertificate, writePkcs12Truststore } from './pkcs12.ts';
import { type Progress, StepRecorder, type StepResult } from './report.ts';
import type { Target } from './target.ts';

/**
 * The "import the CA certificates into the truststores" console step. Native targets keep a PEM bundle
 * that the gateway and the identity server share and re-read when it changes (no restart); each
 * certificate is preceded by OpenSSL's `Bag Attributes / friendlyName: <alias>` lines, which TLS
 * libraries skip, so aliases survive in a plain PEM file. WSO2 targets get the truststore in the format
 * the server is configured for: JKS (its default client-truststore.jks, through keytool) or PKCS12.
 */

export interface Truststore {
  readonly path: string;
  readonly format: TruststoreFormat;
  read(): Promise<TrustedCertificate[]>;
  write(entries: TrustedCertificate[]): Promise<void>;
}

/** The truststore of `target`'s manifest (a PKCS12 one opened with the target's truststore password). */
export function targetTruststore(target: Pick<Target, 'manifest' | 'truststorePassword'>): Truststore {
  const { path, format } = target.manifest.truststore;
  return openTruststore(path, format, target.truststorePassword);
}

/**
 * On Kubernetes the truststore is a Secret mounted read-only into the pods: no command edits the file.
 * What to run instead, for the Pulumi stack (config, then `pulumi up`, which rolls the pods) and for a
 * Helm release (replace the Secret; the services reload the mounted bundle without a restart).
 */
export function kubernetesTruststoreAdvice(target: Pick<Target, 'manifest'>): string {
  const kube = target.manifest.kubernetes;
  const namespace = kube?.namespace ?? '<namespace>';
  const secret = kube?.truststoreSecret ?? '<release>-obkit-truststore';
  return [
    `the truststore of a Kubernetes deployment is the Secret ${secret} in namespace ${namespace}, mounted read-only into the pods; change it where it is made:`,
    '  Pulumi stack:  pulumi config set extraCaCertificates -- "$(cat ca.pem ...)"   (production: caCertificates)',
    '                 pulumi up          (replaces the Secret and rolls the pods)',
    `  Helm release:  kubectl -n ${namespace} create secret generic ${secret} --from-file=ca-bundle.pem=BUNDLE.pem \\`,
    '                   --dry-run=client -o yaml | kubectl apply -f -   (the services reload it, no restart)',
  ].join('\n');
}

export type TruststoreAction = 'add' | 'list' | 'remove';
export function isTruststoreAction(value: string | undefined): value is TruststoreAction {
  return value === 'add' || value === 'list' || value === 'remove';
}

/** `list`, `add CERT.pem…` (under `alias`, default each CN) or `remove ALIAS…`. */
export async function editTruststore(
  store: Truststore,
  action: TruststoreAction,
  args: string[],
  alias?: string,
  target?: Pick<Target, 'manifest'>,
): Promise<StepResult> {
  if (action === 'list') return listCertificates(store);
  if (target?.manifest.target === 'kubernetes') throw new Error(kubernetesTruststoreAdvice(target));
  if (!args.length) throw new Error(`${action} needs ${action === 'add' ? 'certificate files' : 'aliases'}`);
  if (action === 'remove') return removeCertificates(store, args);
  return addCertificates(store, await readCertificateFiles(args, alias));
}

export function openTruststore(path: string, format: TruststoreFormat, password?: string): Truststore {
  if (format !== 'pem' && !password)
    throw new Error(`a ${format.toUpperCase()} truststore needs a password (OBKIT_TRUSTSTORE_PASSWORD)`);
  if (format === 'jks') {
    return {
      path,
      format,
      read: () => readJksTruststore(path, password!),
      write: (entries) => writeJksTruststore(path, entries, password!),
    };
  }
  if (format === 'pkcs12') {
    return {
      path,
      format,
      read: async () => (existsSync(path) ? readPkcs12Truststore(await readFile(path), password!) : []),
      write: (entries) => atomicWrite(path, writePkcs12Truststore(entries, password!), 0o600),
    };
  }
  return {
    path,
    format,
    read: async () => (existsSync(path) ? parsePemTruststore(await readFile(path, 'utf8')) : []),
    write: (entries) => atomicWrite(path, formatPemTruststore(entries), 0o644),
  };
}

export function parsePemTruststore(text: string): TrustedCertificate[] {
  const entries: TrustedCertificate[] = [];
  const taken = new Set<string>();
  for (const block of text.split(/(?<=-----END CERTIFICATE-----)/)) {
    const pem = splitPemBundle(block)[0];
    if (!pem) continue;
    const named = /friendlyName:\s*(.+)/.exec(block.slice(0, block.indexOf('-----BEGIN')))?.[1]?.trim();
    const alias = named ?? uniqueAlias(defaultAlias(pem), taken);
    taken.add(alias);
    entries.push({ alias, pem: `${pem}\n` });
  }
  return entries;
}

export function formatPemTruststore(entries: TrustedCertificate[]): string {
  return entries
    .map((entry) => {
      const certificate = new X509Certificate(entry.pem);
      return `Bag Attributes\n    friendlyName: ${entry.alias}\nsubject=${oneLine(certificate.subject)}\nissuer=${oneLine(certificate.issuer)}\n${entry.pem.trim()}\n`;
    })
    .join('');
}

/** An alias from the certificate's CN: lower case, dashes. */
export function defaultAlias(pem: string): string {
  const subject = new X509Certificate(pem).subject;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1] ?? 'ca';
  return (
    cn
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'ca'
  );
}

export interface CertificateInput {
  /** Alias for the certificate; several certificates get `<alias>`, `<alias>-2`, … */
  alias?: string;
  pem: string;
  source: string;
}

/** Certificates from PEM files (bundles allowed), with the aliases asked for. */
export async function readCertificateFiles(files: string[], alias?: string): Promise<CertificateInput[]> {
  const inputs: CertificateInput[] = [];
  for (const file of files) {
    const pems = splitPemBundle(await readFile(file, 'utf8'));
    if (!pems.length) throw new Error(`${file} holds no PEM certificate`);
    for (const pem of pems) {
      const certificate = new X509Certificate(pem);
      if (!certificate.ca)
        throw new Error(`${file}: ${oneLine(certificate.subject)} is not a CA certificate`);
      const n = inputs.length;
      inputs.push({
        pem: `${pem}\n`,
        source: file,
        ...(alias ? { alias: n ? `${alias}-${n + 1}` : alias } : {}),
      });
    }
  }
  return inputs;
}

/** On a read-only truststore (Kubernetes): unchanged when every certificate is there, else what to do. */
export async function checkCertificates(
  store: Truststore,
  inputs: CertificateInput[],
  target: Pick<Target, 'manifest'>,
): Promise<StepResult> {
  const step = new StepRecorder('load-truststore');
  const trusted = new Set((await store.read()).map((entry) => new X509Certificate(entry.pem).fingerprint256));
  const missing = inputs.filter((input) => !trusted.has(new X509Certificate(input.pem).fingerprint256));
  if (missing.length)
    throw new Error(
      `${missing.map((input) => defaultAlias(input.pem)).join(', ')} not in the truststore; ${kubernetesTruststoreAdvice(target)}`,
    );
  for (const input of inputs) step.note(`${defaultAlias(input.pem)}: already trusted`);
  return step.result({ truststore: store.path, format: store.format });
}

export async function addCertificates(
  store: Truststore,
  inputs: CertificateInput[],
  progress?: Progress,
  dryRun = false,
): Promise<StepResult> {
  const step = new StepRecorder('load-truststore', progress, dryRun);
  const entries = await store.read();
  for (const input of inputs) {
    const fingerprint = new X509Certificate(input.pem).fingerprint256;
    const alias = input.alias ?? defaultAlias(input.pem);
    const same = entries.find((e) => new X509Certificate(e.pem).fingerprint256 === fingerprint);
    if (same) {
      step.note(`${alias}: already trusted${same.alias !== alias ? ` as ${same.alias}` : ''}`);
      continue;
    }
    const index = entries.findIndex((e) => e.alias === alias);
    const subject = `truststore entry ${alias}`;
    if (index >= 0) {
      entries[index] = { alias, pem: input.pem };
      step.record(`${alias}: replaced with the certificate from ${input.source}`, {
        action: 'update',
        subject,
        fields: [`certificate (from ${input.source})`],
      });
    } else {
      entries.push({ alias, pem: input.pem });
      step.record(`${alias}: added from ${input.source}`, { action: 'create', subject });
    }
  }
  if (step.changed && !step.dryRun) await store.write(entries);
  return step.result({ truststore: store.path, format: store.format, aliases: entries.map((e) => e.alias) });
}

export async function removeCertificates(
  store: Truststore,
  aliases: string[],
  progress?: Progress,
): Promise<StepResult> {
  const step = new StepRecorder('load-truststore', progress);
  const entries = await store.read();
  const kept = entries.filter((e) => !aliases.includes(e.alias));
  for (const alias of aliases) {
    if (entries.some((e) => e.alias === alias)) step.change(`${alias}: removed`);
    else step.note(`${alias}: not in the truststore`);
  }
  if (step.changed) await store.write(kept);
  return step.result({ truststore: store.path, format: store.format, aliases: kept.map((e) => e.alias) });
}

export async function listCertificates(store: Truststore): Promise<StepResult> {
  const step = new StepRecorder('load-truststore');
  const entries = (await store.read()).map((entry) => {
    const certificate = new X509Certificate(entry.pem);
    return {
      alias: entry.alias,
      subject: oneLine(certificate.subject),
      issuer: oneLine(certificate.issuer),
      notAfter: new Date(certificate.validTo).toISOString(),
      sha256: certificate.fingerprint256,
    };
  });
  for (const entry of entries)
    step.note(`${entry.alias}  ${entry.subject}  (until ${entry.notAfter.slice(0, 10)})`);
  return step.result({ truststore: store.path, format: store.format, certificates: entries });
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

function uniqueAlias(alias: string, taken: Set<string>): string {
  if (!taken.has(alias)) return alias;
  for (let n = 2; ; n++) if (!taken.has(`${alias}-${n}`)) return `${alias}-${n}`;
}

/** Write-then-rename: services that watch the file never read half of it. */
async function atomicWrite(path: string, content: string | Buffer, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, path);
}

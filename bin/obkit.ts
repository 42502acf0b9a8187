#!/usr/bin/env node
// obkit: the local stack (`up`), the configure steps and the smoke test against any target, health,
// sandbox transport certificates and truststore aliases. Every command answers --help.
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueSandboxClientCertificate } from '../lib/pki/index.ts';
import { parseCommandLine } from '../scripts/lib/command-line.ts';
import {
  type ConfigureFlagValues,
  configure,
  configureFlags,
  configureOptionsFrom,
} from '../scripts/lib/configure.ts';
import { serviceHealth } from '../scripts/lib/health.ts';
import { formatResult, runAndReport, withProgress } from '../scripts/lib/report.ts';
import { givenRecipientOptions, readGivenRecipient, runSmokeTest } from '../scripts/lib/smoke.ts';
import {
  defaultStateDir,
  resolveTarget,
  TARGET_HELP,
  type TargetFlags,
  targetOptions,
} from '../scripts/lib/target.ts';
import { editTruststore, isTruststoreAction, targetTruststore } from '../scripts/lib/truststore.ts';
import { runUp, UP_HELP, type UpValues, upOptions } from '../scripts/lib/up.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: obkit <command> [options]

Commands:
  up                     start the whole stack locally (sandbox), configure it, prove it with a
                         registration, print how to call it; stays in the foreground until Ctrl-C
  configure              run every configure step in WSO2's order, then the smoke test
  smoke                  the smoke registration (or the no-SSA checks against production)
  status                 health of each service of the environment
  pki issue-client --cn NAME   a transport certificate from the sandbox CA
  truststore add|list|remove   the recipients' CA truststore (aliases)

Run \`obkit <command> --help\` for a command's options. Scripts for each step: ${join(ROOT, 'scripts')}/`;

const [command, ...args] = process.argv.slice(2);

switch (command) {
  case 'up':
    await up(args);
    break;
  case 'configure':
    await configureCommand(args);
    break;
  case 'smoke':
    await smokeCommand(args);
    break;
  case 'status':
    await statusCommand(args);
    break;
  case 'pki':
    await pkiCommand(args);
    break;
  case 'truststore':
    await truststoreCommand(args);
    break;
  case undefined:
  case 'help':
  case '--help':
  case '-h':
    console.log(HELP);
    break;
  default:
    console.error(`obkit: unknown command ${command}\n\n${HELP}`);
    process.exitCode = 2;
}

async function up(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('obkit', { args: argv, options: upOptions }, UP_HELP);
  process.exitCode = await runUp(values as UpValues);
}

async function configureCommand(argv: string[]): Promise<void> {
  const help = `Usage: obkit configure [options] [target options]

Runs, in WSO2's order: the OBKM key manager (and disables the Resident Key Manager), publishes the DCR
API, loads the truststore, restarts where the target needs it, then the smoke test. Each step prints
"unchanged" or "updated".

  --definition FILE --insequence FILE   the DCR API to publish (default apis/cdr-dcr/0.2/)
  --trust FILE           CA certificates for the truststores (repeatable; sandbox default: its CA)
  --ssa FILE --signing-key JWK.json     smoke-test with a given SSA and key
  --no-smoke             skip the smoke test

${TARGET_HELP}`;
  const { values } = parseCommandLine(
    'obkit',
    { args: argv, options: { ...targetOptions, ...configureFlags } },
    help,
  );
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    const options = await configureOptionsFrom(values as ConfigureFlagValues);
    return withProgress('configuring', Boolean(values.json), (progress) =>
      configure(target, { ...options, progress }),
    );
  });
}

async function smokeCommand(argv: string[]): Promise<void> {
  const help = `Usage: obkit smoke [--ssa FILE --signing-key JWK.json] [target options]

As an Accredited Data Recipient: discovery and JWKS, refusal of an untrusted client certificate, a
registration through the gateway over mutual TLS (SSA from the sandbox Register, or --ssa), a
certificate-bound token with private_key_jwt, GET/PUT/DELETE of the registration and a rejected
request with a bad signature. Deletes what it registered. Production without an SSA: the checks that
need none and the rejection of a self-signed SSA.

${TARGET_HELP}`;
  const { values } = parseCommandLine(
    'obkit',
    { args: argv, options: { ...targetOptions, ...givenRecipientOptions } },
    help,
  );
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    const given = await readGivenRecipient(values as { ssa?: string; 'signing-key'?: string });
    return [
      await withProgress('smoke test', Boolean(values.json), (progress) =>
        runSmokeTest(target, { progress, ...(given ? { given } : {}) }),
      ),
    ];
  });
}

async function statusCommand(argv: string[]): Promise<void> {
  const help = `Usage: obkit status [target options]

GET /health/ready of every service in the environment; exits 1 when one is not ready.

${TARGET_HELP}`;
  const { values } = parseCommandLine('obkit', { args: argv, options: targetOptions }, help);
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    const result = await serviceHealth(target);
    if (result.data?.down)
      throw new Error(`${formatResult(result)}\nnot ready: ${(result.data.down as string[]).join(', ')}`);
    return [result];
  });
}

async function pkiCommand(argv: string[]): Promise<void> {
  const help = `Usage: obkit pki issue-client --cn NAME [--days N] [--out DIR] [--state-dir DIR] [--json]

Issues a client transport certificate (EKU clientAuth) from the sandbox issuing CA of the state
directory, which the sandbox truststore already trusts. Writes NAME.pem (certificate + issuing CA) and
NAME.key (mode 0600) to --out (default <state-dir>/pki/clients/) and prints their paths.`;
  const { values, positionals } = parseCommandLine(
    'obkit',
    {
      args: argv,
      options: {
        cn: { type: 'string' },
        days: { type: 'string' },
        out: { type: 'string' },
        'state-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    },
    help,
  );
  if (positionals[0] !== 'issue-client' || !values.cn) {
    console.error(help);
    process.exitCode = 2;
    return;
  }
  await runAndReport(Boolean(values.json), async () => {
    const stateDir = defaultStateDir(values as TargetFlags);
    const pkiDir = join(stateDir, 'pki');
    if (!existsSync(join(pkiDir, 'issuing-ca.key')))
      throw new Error(`no sandbox CA in ${pkiDir}: run \`obkit up\` first`);
    const days = values.days ? Number(values.days) : undefined;
    if (days !== undefined && !(Number.isInteger(days) && days > 0))
      throw new Error('--days must be a positive integer');
    const issued = await issueSandboxClientCertificate(pkiDir, values.cn as string, days);
    const out = resolve((values.out as string | undefined) ?? join(pkiDir, 'clients'));
    await mkdir(out, { recursive: true, mode: 0o700 });
    const base = join(out, (values.cn as string).replace(/[^A-Za-z0-9._-]+/g, '_'));
    await writeFile(`${base}.key`, issued.keyPem, { mode: 0o600 });
    await chmod(`${base}.key`, 0o600);
    await writeFile(`${base}.pem`, issued.certificatePem);
    return [
      {
        step: 'pki issue-client',
        status: 'updated',
        actions: [`certificate ${base}.pem`, `private key ${base}.key`],
        data: { certificate: `${base}.pem`, key: `${base}.key` },
      },
    ];
  });
}

async function truststoreCommand(argv: string[]): Promise<void> {
  const help = `Usage: obkit truststore add CERT.pem... [--alias NAME] [target options]
       obkit truststore list [target options]
       obkit truststore remove ALIAS... [target options]

The truststore of recipients' CAs shared by the gateway and the identity server. Local stacks re-read
it on change (no restart). --truststore FILE.p12 edits a PKCS12 truststore for WSO2 instead.

  --alias NAME           alias of an added certificate (a bundle gets NAME, NAME-2, …); default its CN

${TARGET_HELP}`;
  const { values, positionals } = parseCommandLine(
    'obkit',
    { args: argv, options: { ...targetOptions, alias: { type: 'string' } }, allowPositionals: true },
    help,
  );
  const [action, ...rest] = positionals;
  if (!isTruststoreAction(action) || (action !== 'list' && !rest.length)) {
    console.error(help);
    process.exitCode = 2;
    return;
  }
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    return [await editTruststore(targetTruststore(target), action, rest, values.alias)];
  });
}

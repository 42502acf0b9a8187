#!/usr/bin/env node
// obkit: the local stack (`up`), the configure steps and the smoke test against any target, health,
// sandbox transport certificates and truststore aliases. Every command answers --help.
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { enableCompileCache } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPILE_CACHE_DIR } from '../lib/process/cache.ts';
import { parseCommandLine } from '../scripts/lib/command-line.ts';
import type { ConfigureFlagValues } from '../scripts/lib/configure.ts';
import type { TargetFlags } from '../scripts/lib/target.ts';
import type { UpValues } from '../scripts/lib/up.ts';

// Each command loads only its own modules, after the compile cache is on: a start spares recompiling them.
enableCompileCache(COMPILE_CACHE_DIR);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: obkit <command> [options]

Commands:
  up                     start the whole stack locally (sandbox), configure it, prove it with a
                         registration, print how to call it; stays in the foreground, supervising
  down                   stop the \`obkit up\` running on a state directory
  logs [SERVICE]         the local stack's logs, readable (--follow to keep printing)
  configure              run every configure step in WSO2's order, then the smoke test
                         (--plan: what it would change, exit 2 on drift)
  smoke                  the smoke registration (or the no-SSA checks against production); in a
                         sandbox with the banking service, then consent, data and revocation
  consent-url            a fresh consent URL for the sandbox demo client (as \`obkit up\` prints)
  status                 health of each service of the environment (and restarts under \`obkit up\`)
  conformance dcr        the DCR conformance cases (every rule of docs/dcr-rules.md) against a Data Holder
  dcr explain FILE|-     why a registration request is refused: each rule passed/failed/skipped, offline
  pki issue-client --cn NAME   a transport certificate from the sandbox CA
  truststore add|list|remove   the recipients' CA truststore (aliases)

  --version              print obkit's version

Run \`obkit <command> --help\` for a command's options. Scripts for each step: ${join(ROOT, 'scripts')}/`;

const [command, ...args] = process.argv.slice(2);

switch (command) {
  case 'up':
    await up(args);
    break;
  case 'down':
    await downCommand(args);
    break;
  case 'logs':
    await logsCommand(args);
    break;
  case 'configure':
    await configureCommand(args);
    break;
  case 'smoke':
    await smokeCommand(args);
    break;
  case 'consent-url':
    await consentUrlCommand(args);
    break;
  case 'status':
    await statusCommand(args);
    break;
  case 'conformance':
    await conformanceCommand(args);
    break;
  case 'dcr':
    await dcrCommand(args);
    break;
  case 'pki':
    await pkiCommand(args);
    break;
  case 'truststore':
    await truststoreCommand(args);
    break;
  case '--version':
  case '-v':
  case 'version':
    console.log(`obkit ${version()}`);
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
  // The bundled `up` (built first when the sources changed) loads in half the time of the sources.
  const { ensureBundles } = await import('../lib/process/bundles.ts');
  const help = argv.includes('--help') || argv.includes('-h');
  const bundles = help ? undefined : await ensureBundles((line) => console.error(`obkit up: ${line}`));
  const { runUp, UP_HELP, upOptions }: typeof import('../scripts/lib/up.ts') = await import(
    bundles?.of('scripts/lib/up.ts') ?? '../scripts/lib/up.ts'
  );
  const { values } = parseCommandLine('obkit', { args: argv, options: upOptions }, UP_HELP);
  process.exitCode = await runUp(values as UpValues);
}

async function downCommand(argv: string[]): Promise<void> {
  const { defaultStateDir } = await import('../scripts/lib/target.ts');
  const { stopRunningUp } = await import('../scripts/lib/up-lock.ts');
  const help = `Usage: obkit down [--state-dir DIR]

Stops the \`obkit up\` running on the state directory (as Ctrl-C in its terminal would: every service,
then the embedded database) and waits until it has finished. Nothing running is not an error.

  --state-dir DIR        state directory (default: OBKIT_STATE_DIR, obkit.state_dir of OBKIT_CONFIG, .obkit)`;
  const { values } = parseCommandLine(
    'obkit',
    { args: argv, options: { 'state-dir': { type: 'string' } } },
    help,
  );
  const stateDir = defaultStateDir(values as TargetFlags);
  try {
    const stopped = await stopRunningUp(stateDir);
    console.log(
      stopped
        ? `obkit down: stopped obkit up (pid ${stopped.pid}, started ${stopped.startedAt}) on ${stateDir}`
        : `obkit down: no obkit up is running on ${stateDir}`,
    );
  } catch (error) {
    console.error(`obkit down: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

async function logsCommand(argv: string[]): Promise<void> {
  const { defaultStateDir } = await import('../scripts/lib/target.ts');
  const { followLogs, logFiles, readLogs } = await import('../scripts/lib/logs.ts');
  const help = `Usage: obkit logs [SERVICE] [--follow] [--lines N] [--state-dir DIR]

The logs of the local stack (<state-dir>/logs/<process>.log, JSON lines) for reading: ISO time, level
name, process, message and fields. Without SERVICE, every process's log merged in time order.
SERVICE: embedded-database, mock-register, identity-server, api-manager, gateway or banking.

  -f, --follow           keep printing new lines until Ctrl-C
  -n, --lines N          only the last N lines (before following)
  --state-dir DIR        state directory (default: OBKIT_STATE_DIR, obkit.state_dir of OBKIT_CONFIG, .obkit)`;
  const { values, positionals } = parseCommandLine(
    'obkit',
    {
      args: argv,
      options: {
        follow: { type: 'boolean', short: 'f', default: false },
        lines: { type: 'string', short: 'n' },
        'state-dir': { type: 'string' },
      },
      allowPositionals: true,
    },
    help,
  );
  const lines = values.lines === undefined ? undefined : Number(values.lines);
  if (positionals.length > 1 || (lines !== undefined && !(Number.isInteger(lines) && lines >= 0))) {
    console.error(help);
    process.exitCode = 2;
    return;
  }
  try {
    const files = await logFiles(defaultStateDir(values as TargetFlags), positionals[0]);
    const rendered = await readLogs(files);
    for (const line of rendered.slice(lines === undefined ? 0 : Math.max(0, rendered.length - lines)))
      console.log(line);
    if (!values.follow) return;
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await followLogs(files, (line) => console.log(line), stop.signal);
  } catch (error) {
    console.error(`obkit logs: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

function version(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function configureCommand(argv: string[]): Promise<void> {
  const { configure, configureFlags, configureOptionsFrom, formatPlan, planConfigure } = await import(
    '../scripts/lib/configure.ts'
  );
  const { runAndReport, withProgress } = await import('../scripts/lib/report.ts');
  const { resolveTarget, TARGET_HELP, targetOptions } = await import('../scripts/lib/target.ts');
  const help = `Usage: obkit configure [options] [target options]

Runs, in WSO2's order: the OBKM key manager (and disables the Resident Key Manager), publishes the DCR
API, loads the truststore, restarts where the target needs it, then the smoke test. Each step prints
"unchanged" or "updated".

  --definition FILE --insequence FILE   the DCR API to publish (default apis/cdr-dcr/0.2/)
  --trust FILE           CA certificates for the truststores (repeatable; sandbox default: its CA)
  --ssa FILE --signing-key JWK.json     smoke-test with a given SSA and key; with --register URL,
                         --signing-key alone: the key the Register hosts
  --no-smoke             skip the smoke test
  --plan                 change nothing: print what configure would create (+), update (~), delete (-)
                         or leave (=), as JSON with --json; exit 2 when something would change, 0 when
                         the target is in sync (a pipeline gate on drift)

Example:
  obkit configure --plan --json > plan.json   # exit 2: drift (plan.json says what), 0: in sync

${TARGET_HELP}`;
  const { values } = parseCommandLine(
    'obkit',
    { args: argv, options: { ...targetOptions, ...configureFlags } },
    help,
  );
  if (values.plan) {
    const json = Boolean(values.json);
    try {
      const target = await resolveTarget(values as TargetFlags);
      const plan = await planConfigure(target, await configureOptionsFrom(values as ConfigureFlagValues));
      process.stdout.write(
        json ? `${JSON.stringify({ ok: true, ...plan }, null, 2)}\n` : `${formatPlan(plan)}\n`,
      );
      process.exitCode = plan.inSync ? 0 : 2;
    } catch (error) {
      const message = (error as Error).message;
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
      else console.error(`error: ${message}`);
      process.exitCode = 1;
    }
    return;
  }
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    const options = await configureOptionsFrom(values as ConfigureFlagValues);
    return withProgress('configuring', Boolean(values.json), (progress) =>
      configure(target, { ...options, progress }),
    );
  });
}

async function smokeCommand(argv: string[]): Promise<void> {
  const { runAndReport, withProgress } = await import('../scripts/lib/report.ts');
  const { givenRecipientOptions, readGivenRecipient, runSmokeTest } = await import('../scripts/lib/smoke.ts');
  const { resolveTarget, TARGET_HELP, targetOptions } = await import('../scripts/lib/target.ts');
  const { reportedSmoke, SMOKE_REPORT_HELP, smokeReportFlags } = await import(
    '../scripts/lib/smoke-report.ts'
  );
  const help = `Usage: obkit smoke [--ssa FILE] [--signing-key JWK.json] [--no-registration] [reports] [target options]

As an Accredited Data Recipient: discovery and JWKS, refusal of an untrusted client certificate, a
registration through the gateway over mutual TLS (SSA from the sandbox Register — obkit's, or
--register URL — or --ssa), a
certificate-bound token with private_key_jwt, GET/PUT/DELETE of the registration and a rejected
request with a bad signature. In a sandbox running obkit's banking service, before the DELETE, the
data-sharing journey: PAR, the sandbox consent pages as form posts, JARM, tokens, the consented
accounts through the gateway, the arrangement revoked, then 401. Deletes what it registered.
Production without an SSA, or --no-registration: the checks that need none and the rejection of a
self-signed SSA; production never runs the data-sharing journey.

  --no-registration      only the checks that need no SSA (scheduled verification; no admin credential)

${SMOKE_REPORT_HELP}

Example:
  obkit smoke --junit reports/smoke.xml   # CI: one test case per check, the failing one as a failure

${TARGET_HELP}`;
  const { values } = parseCommandLine(
    'obkit',
    {
      args: argv,
      options: {
        ...targetOptions,
        ...givenRecipientOptions,
        ...smokeReportFlags,
        'no-registration': { type: 'boolean', default: false },
      },
    },
    help,
  );
  await runAndReport(Boolean(values.json), async () => {
    const target = await resolveTarget(values as TargetFlags);
    const given = await readGivenRecipient(values as { ssa?: string; 'signing-key'?: string });
    const reports = {
      junit: values.junit,
      metricsFile: values['metrics-file'],
      pushgateway: values.pushgateway,
      instance: target.manifest.kubernetes?.namespace ?? target.manifest.gateway.vhost,
    };
    return [
      await reportedSmoke(reports, () =>
        withProgress('smoke test', Boolean(values.json), (progress) =>
          runSmokeTest(target, {
            progress,
            ...(given ? { given } : {}),
            ...(values['no-registration'] ? { registration: false } : {}),
          }),
        ),
      ),
    ];
  });
}

async function consentUrlCommand(argv: string[]): Promise<void> {
  const { demoConsentUrl } = await import('../scripts/lib/consent-url.ts');
  const { defaultStateDir, resolveTarget, TARGET_HELP, targetOptions } = await import(
    '../scripts/lib/target.ts'
  );
  const help = `Usage: obkit consent-url [target options]

Pushes an authorisation request (PAR) for the sandbox demo client — registered once through the
gateway and kept in <state-dir>/demo/consent-client.json with its signing key — and prints the
authorize URL to open in a browser: the sandbox consent page, where a test customer logs in with the
one-time code it shows, picks accounts and approves. The URL is valid for the request's expires_in
(60 s); the browser ends at the demo client's redirect URI with the signed response in the address bar.
Needs a sandbox target with obkit's Register (\`obkit up\`).

${TARGET_HELP}`;
  const { values } = parseCommandLine('obkit', { args: argv, options: targetOptions }, help);
  try {
    const target = await resolveTarget(values as TargetFlags);
    if (!target.manifest.mockRegister) throw new Error("it needs a sandbox target with obkit's Register");
    const stateDir = target.manifest.stateDir ?? defaultStateDir(values as TargetFlags);
    const pushed = await demoConsentUrl(target, stateDir);
    console.log(
      values.json
        ? JSON.stringify({ ok: true, url: pushed.authorizeUrl, expiresIn: pushed.expiresIn })
        : `${pushed.authorizeUrl}\n(valid ${pushed.expiresIn} s)`,
    );
  } catch (error) {
    const message = `obkit consent-url: ${(error as Error).message}`;
    if (values.json) console.log(JSON.stringify({ ok: false, error: message }));
    else console.error(message);
    process.exitCode = 1;
  }
}

async function statusCommand(argv: string[]): Promise<void> {
  const { serviceHealth } = await import('../scripts/lib/health.ts');
  const { formatResult, runAndReport } = await import('../scripts/lib/report.ts');
  const { resolveTarget, TARGET_HELP, targetOptions } = await import('../scripts/lib/target.ts');
  const help = `Usage: obkit status [target options]

GET /health/ready of every service in the environment, on its management URL (obkit serves health and
metrics there, never on the public ports); exits 1 when one is not ready. WSO2 targets:
the Health Check API (/api/health-check/v1.0/health) where deployed, else the Version service
(/services/Version) of the identity server and API manager, and an answer from the gateway. For a
stack started by \`obkit up\`, also whether it is running, each process's state and its restarts.

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

async function conformanceCommand(argv: string[]): Promise<void> {
  const { resolveTarget, TARGET_HELP, targetOptions } = await import('../scripts/lib/target.ts');
  const { conformanceTargetFlags, formatReport, runConformance, writeJunit } = await import(
    '../scripts/lib/conformance/index.ts'
  );
  const { stderrProgress } = await import('../scripts/lib/report.ts');
  const help = `Usage: obkit conformance dcr [--target native|wso2|MANIFEST] [--junit FILE] [--json] [target options]

As an Accredited Data Recipient, checks every rule of docs/dcr-rules.md against the Data Holder's
gateway and token endpoint, accepting and rejecting: request signatures and algorithms (alg none,
HS256, RS256), audience, issuer, expiry and jti replay, required claims and metadata values, the SSA,
redirect URIs against the SSA, duplicate software_id, untrusted, expired and non-client certificates,
GET/PUT/DELETE authorisation (no, malformed, revoked, other client's, unbound or narrow tokens) and
certificate-bound tokens. SSAs come from the sandbox Register (obkit up's, or --register URL with its
admin); everything registered is deleted afterwards. Exits 0 only when no case failed; each failure
names the rule, the requests and the answers. Cases that need the sandbox CA key (expired, non-client
and second trusted certificates) are skipped, with the reason, when the manifest has none.

  --target MANIFEST      an environment manifest file (as --environment)
  --junit FILE           write a JUnit report (one test case per conformance case)

Example:
  obkit conformance dcr --junit reports/dcr-conformance.xml

${TARGET_HELP}`;
  const { values, positionals } = parseCommandLine(
    'obkit',
    { args: argv, options: { ...targetOptions, junit: { type: 'string' } }, allowPositionals: true },
    help,
  );
  if (positionals.length !== 1 || positionals[0] !== 'dcr') {
    console.error(help);
    process.exitCode = 2;
    return;
  }
  const json = Boolean(values.json);
  try {
    const target = await resolveTarget(conformanceTargetFlags(values as TargetFlags));
    const report = await runConformance(target, json ? {} : { progress: stderrProgress('  ') });
    if (values.junit) await writeJunit(values.junit, report);
    process.stdout.write(
      json
        ? `${JSON.stringify({ ok: report.failed === 0, ...report }, null, 2)}\n`
        : `${formatReport(report)}\n`,
    );
    process.exitCode = report.failed === 0 ? 0 : 1;
  } catch (error) {
    const message = (error as Error).message;
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
    else console.error(`obkit conformance: ${message}`);
    process.exitCode = 1;
  }
}

async function dcrCommand(argv: string[]): Promise<void> {
  const { explainConfig, explainRegistration, formatExplanation } = await import(
    '../scripts/lib/dcr-explain.ts'
  );
  const { readFile } = await import('node:fs/promises');
  const help = `Usage: obkit dcr explain FILE|- [--answer FILE] [--config FILE | --state-dir DIR | --environment FILE] [--json]

Why was this registration refused? Runs the identity server's own registration checks offline on the
request JWT in FILE (- reads stdin) and reports each rule of docs/dcr-rules.md passed, failed or
skipped, with the configuration keys that govern it and, for the first failure, the answer the
identity server gives. Keys are fetched as the identity server fetches them (the Register JWKS, the
SSA's jwks_uri); a request whose SSA does not verify is still checked on the SSA's claims. Replay,
duplicate software_id and mutual TLS need the Data Holder's database or connection: named, skipped.
Exits 1 when a rule fails, 0 otherwise.

  --answer FILE          the JSON answer received: says whether it is what this configuration gives
  --config FILE          the identity server's TOML (default: the effective configuration in the
                         environment manifest of obkit up, else the defaults and environment)
  --state-dir DIR        state directory whose environment.json to read (default as every command)
  --environment FILE     an environment manifest
  --json                 print the explanation as JSON

Example:
  obkit dcr explain .obkit/demo/registration-request.jwt --answer answer.json`;
  const { values, positionals } = parseCommandLine(
    'obkit',
    {
      args: argv,
      options: {
        answer: { type: 'string' },
        config: { type: 'string' },
        'state-dir': { type: 'string' },
        environment: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    },
    help,
  );
  if (positionals.length !== 2 || positionals[0] !== 'explain') {
    console.error(help);
    process.exitCode = 2;
    return;
  }
  const json = Boolean(values.json);
  try {
    const file = positionals[1]!;
    const jwt = (file === '-' ? await readStdin() : await readFile(file, 'utf8')).trim();
    const answer = values.answer ? JSON.parse(await readFile(values.answer, 'utf8')) : undefined;
    const { config, source } = await explainConfig(values);
    const explanation = await explainRegistration(jwt, config, answer === undefined ? {} : { answer });
    process.stdout.write(
      json
        ? `${JSON.stringify({ ok: true, configuration: source, ...explanation }, null, 2)}\n`
        : `configuration: ${source}\n${formatExplanation(explanation)}\n`,
    );
    process.exitCode = explanation.verdict === 'refused' ? 1 : 0;
  } catch (error) {
    const message = (error as Error).message;
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
    else console.error(`obkit dcr explain: ${message}`);
    process.exitCode = 1;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function pkiCommand(argv: string[]): Promise<void> {
  const { issueSandboxClientCertificate } = await import('../lib/pki/index.ts');
  const { runAndReport } = await import('../scripts/lib/report.ts');
  const { defaultStateDir } = await import('../scripts/lib/target.ts');
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
  const { runAndReport } = await import('../scripts/lib/report.ts');
  const { resolveTarget, TARGET_HELP, targetOptions } = await import('../scripts/lib/target.ts');
  const { editTruststore, isTruststoreAction, targetTruststore } = await import(
    '../scripts/lib/truststore.ts'
  );
  const help = `Usage: obkit truststore add CERT.pem... [--alias NAME] [target options]
       obkit truststore list [target options]
       obkit truststore remove ALIAS... [target options]

The truststore of recipients' CAs shared by the gateway and the identity server. Local stacks re-read
it on change (no restart). WSO2 targets edit its truststore in its format: --truststore FILE.jks
(JKS, through keytool; the default client-truststore.jks) or FILE.p12 (PKCS12). On
Kubernetes the truststore is a Secret: add and remove print the Pulumi and kubectl commands that change it.

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
    return [await editTruststore(targetTruststore(target), action, rest, values.alias, target)];
  });
}

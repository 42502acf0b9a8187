import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { issueSandboxClientCertificate } from '../../../lib/pki/index.ts';
import { runAndReport } from '../report.ts';
import { defaultStateDir, type TargetFlags } from '../target.ts';
import { defineCommand, usageError } from './command.ts';

export const pkiCommand = defineCommand({
  options: {
    cn: { type: 'string' },
    days: { type: 'string' },
    out: { type: 'string' },
    'state-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  positionals: true,
  usage: (
    invocation,
  ) => `Usage: ${invocation} issue-client --cn NAME [--days N] [--out DIR] [--state-dir DIR] [--json]

Issues a client transport certificate (EKU clientAuth) from the sandbox issuing CA of the state
directory, which the sandbox truststore already trusts. Writes NAME.pem (certificate + issuing CA) and
NAME.key (mode 0600) to --out (default <state-dir>/pki/clients/) and prints their paths.`,
  run: async ({ values, positionals }, invoked) => {
    const cn = values.cn;
    if (positionals[0] !== 'issue-client' || !cn) return usageError(invoked);
    await runAndReport(Boolean(values.json), async () => {
      const stateDir = defaultStateDir(values as TargetFlags);
      const pkiDir = join(stateDir, 'pki');
      if (!existsSync(join(pkiDir, 'issuing-ca.key')))
        throw new Error(`no sandbox CA in ${pkiDir}: run \`obkit up\` first`);
      const days = values.days ? Number(values.days) : undefined;
      if (days !== undefined && !(Number.isInteger(days) && days > 0))
        throw new Error('--days must be a positive integer');
      const issued = await issueSandboxClientCertificate(pkiDir, cn, days);
      const out = resolve(values.out ?? join(pkiDir, 'clients'));
      await mkdir(out, { recursive: true, mode: 0o700 });
      const base = join(out, cn.replace(/[^A-Za-z0-9._-]+/g, '_'));
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
  },
});

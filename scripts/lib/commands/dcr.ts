import { readFile } from 'node:fs/promises';
import { explainConfig, explainRegistration, formatExplanation } from '../dcr-explain.ts';
import { defineCommand, usageError } from './command.ts';

export const dcrCommand = defineCommand({
  options: {
    answer: { type: 'string' },
    config: { type: 'string' },
    'state-dir': { type: 'string' },
    environment: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  positionals: true,
  usage: (
    invocation,
  ) => `Usage: ${invocation} explain FILE|- [--answer FILE] [--config FILE | --state-dir DIR | --environment FILE] [--json]

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
  ${invocation} explain .obkit/demo/registration-request.jwt --answer answer.json`,
  run: async ({ values, positionals }, invoked) => {
    if (positionals.length !== 2 || positionals[0] !== 'explain') return usageError(invoked);
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
      else console.error(`${invoked.invocation} explain: ${message}`);
      process.exitCode = 1;
    }
  },
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

import { demoConsentUrl } from '../consent-url.ts';
import { defaultStateDir, resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

export const consentUrlCommand = defineCommand({
  options: targetOptions,
  usage: (invocation) => `Usage: ${invocation} [target options]

Pushes an authorisation request (PAR) for the sandbox demo client — registered once through the
gateway and kept in <state-dir>/demo/consent-client.json with its signing key — and prints the
authorize URL to open in a browser: the sandbox consent page, where a test customer logs in with the
one-time code it shows, picks accounts and approves. The URL is valid for the request's expires_in
(60 s); the browser ends at the demo client's redirect URI with the signed response in the address bar.
Needs a sandbox target with obkit's Register (\`obkit up\`).

${TARGET_HELP}`,
  run: async ({ values }, { invocation }) => {
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
      const message = `${invocation}: ${(error as Error).message}`;
      if (values.json) console.log(JSON.stringify({ ok: false, error: message }));
      else console.error(message);
      process.exitCode = 1;
    }
  },
});

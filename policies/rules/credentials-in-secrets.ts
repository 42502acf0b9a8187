import type { ResourceValidationPolicy } from '@pulumi/policy';
import { containersOf, dataValuesOf, kindOf, podTemplateOf } from '../kube.ts';

/** Names that announce a credential: `OBKIT_ADMIN_PASSWORD`, `client_secret`, `api_key`, `GITHUB_TOKEN`. */
const CREDENTIAL_NAME =
  /(^|[_.-])(password|passwd|passphrase|secret|client_secret|private_key|privatekey|api_key|apikey|access_key|token)$/i;
const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;
/** A URL carrying a password in its userinfo, e.g. postgres://obkit:hunter2@db:5432/obkit. */
const URL_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@"']+:[^\s/@"']+@/i;
/** `key = value`, `key: value` or `"key": value` lines of TOML, YAML, JSON or .properties text. */
const ASSIGNMENT = /^\s*["']?([\w.-]+)["']?\s*[=:]\s*(.*?)\s*,?\s*$/;
const EMPTY_VALUE = /^(""|''|null|~|\{\}|\[\])?$/;
/** A file path (`private_key = "/etc/obkit/tls/tls.key"`) names where a credential is, not the credential. */
const FILE_PATH = /^["']?(\/|\.{1,2}\/|file:)/;

export function credentialNamed(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/** Why a literal value looks like a credential, or undefined. */
export function credentialInValue(value: string): string | undefined {
  if (PRIVATE_KEY_PEM.test(value)) return 'a PEM private key';
  if (URL_WITH_PASSWORD.test(value)) return 'a URL with a password';
  return undefined;
}

/** Credential-looking assignments inside a text document (TOML, JSON, YAML, .properties). */
export function credentialAssignments(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const match = ASSIGNMENT.exec(line);
    if (match?.[1] && credentialNamed(match[1])) {
      const value = match[2] ?? '';
      if (!EMPTY_VALUE.test(value) && !FILE_PATH.test(value)) found.push(match[1]);
    }
  }
  return found;
}

/**
 * Credentials live only in Secrets: never as a literal container environment value and never in a
 * ConfigMap, which anyone with read access to the namespace (and every backup) sees in plain text.
 */
export const credentialsInSecrets: ResourceValidationPolicy = {
  name: 'credentials-only-in-secrets',
  description: 'Passwords, secrets and private keys must come from Secrets, not env literals or ConfigMaps.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const kind = kindOf(args.type);
    if (kind === 'ConfigMap') {
      for (const [key, value] of dataValuesOf(kind, args.props)) {
        if (credentialNamed(key) && value.trim() !== '' && !FILE_PATH.test(value.trim())) {
          reportViolation(`ConfigMap key '${key}' holds a credential; put it in a Secret.`);
        }
        const reason = credentialInValue(value);
        if (reason) reportViolation(`ConfigMap key '${key}' contains ${reason}; put it in a Secret.`);
        for (const name of credentialAssignments(value)) {
          reportViolation(`ConfigMap key '${key}' sets '${name}'; put the value in a Secret.`);
        }
      }
      return;
    }
    const template = podTemplateOf(kind, args.props);
    if (!template) return;
    for (const container of containersOf(template.spec)) {
      const env: Array<{ name?: string; value?: unknown }> = Array.isArray(container.env)
        ? container.env
        : [];
      for (const { name = '', value } of env) {
        if (typeof value !== 'string' || value === '') continue;
        const literal = credentialNamed(name) && !FILE_PATH.test(value);
        const reason = literal ? 'a credential literal' : credentialInValue(value);
        if (reason) {
          reportViolation(
            `container '${container.name}' env ${name} holds ${reason}; use valueFrom.secretKeyRef.`,
          );
        }
      }
    }
  },
};

import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's chromium package; Playwright's own browser downloads are not used. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run. Absent outside CI they are skipped, loudly; in CI
 * (`OBKIT_REQUIRE_BROWSER`, set by .ci/run, or `CI`) they run and fail without a browser.
 */
export function browserAvailability(): { run: boolean; reason: string } {
  if (existsSync(CHROMIUM)) return { run: true, reason: '' };
  if (process.env.OBKIT_REQUIRE_BROWSER || process.env.CI) return { run: true, reason: '' };
  const reason = `SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); the consent pages were NOT tested in a browser`;
  console.warn(reason);
  return { run: false, reason };
}

/**
 * One headless chromium with a fresh profile, trusting exactly the server certificate given (by its
 * public key's SPKI hash) rather than every certificate.
 */
export async function launchBrowser(serverCertificatePem: string): Promise<{
  context: BrowserContext;
  close(): Promise<void>;
}> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'obkit-chromium-'));
  const spki = createHash('sha256')
    .update(new X509Certificate(serverCertificatePem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

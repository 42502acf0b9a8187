import type { StepResult } from './report.ts';
import type { Target } from './target.ts';

/** `GET /health/ready` of every service the target names; `data.down` lists the ones not ready. */
export async function serviceHealth(target: Target): Promise<StepResult> {
  const { manifest } = target;
  const services: [string, string | undefined][] = [
    ['identity-server', manifest.identityServer.url],
    ['api-manager', manifest.apiManager.url],
    ['gateway', manifest.gateway.url],
    ['mock-register', manifest.mockRegister?.url],
  ];
  const actions: string[] = [];
  const down: string[] = [];
  const health: Record<string, unknown> = {};
  for (const [name, url] of services) {
    if (!url) continue;
    try {
      const response = await target
        .http(url, { retries: 0, timeoutMs: 3000 })
        .request<{ status?: string; checks?: Record<string, string> }>('GET', '/health/ready', {
          expect: [200, 503],
        });
      const ready = response.status === 200;
      if (!ready) down.push(name);
      health[name] = { url, ready, checks: response.data.checks ?? {} };
      const failing = Object.entries(response.data.checks ?? {}).filter(([, v]) => v !== 'UP');
      actions.push(
        `${name.padEnd(16)} ${ready ? 'UP  ' : 'DOWN'} ${url}${failing.length ? `  (${failing.map(([k, v]) => `${k}: ${v}`).join('; ')})` : ''}`,
      );
    } catch (error) {
      down.push(name);
      health[name] = { url, ready: false, error: (error as Error).message };
      actions.push(`${name.padEnd(16)} DOWN ${url}  (${(error as Error).message})`);
    }
  }
  return {
    step: 'status',
    status: 'passed',
    actions,
    data: { services: health, ...(down.length ? { down } : {}) },
  };
}

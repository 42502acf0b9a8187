import { ApiCallError, type HttpClient } from './api-client/http.ts';
import type { StepResult } from './report.ts';
import type { Target } from './target.ts';
import { runningUp } from './up-lock.ts';

/** WSO2's Carbon Health Check API (carbon-health-check; shipped by IS, deployable into API Manager). */
export const WSO2_HEALTH_CHECK_PATH = '/api/health-check/v1.0/health';
/** The Axis2 `Version` service every WSO2 Carbon server ships (WSO2's basic health check). */
export const WSO2_VERSION_PATH = '/services/Version';

/**
 * The health of every service the target names; `data.down` lists the ones not ready. obkit's services
 * answer `GET /health/ready` on their management URL (never on the public one). In Kubernetes no Service
 * carries the management port, but a Service routes only to pods whose readiness probe (that same
 * `/health/ready`) passes, so an answer through the public Service is the kubelet's verdict. WSO2 has no
 * such path: its servers answer the Carbon Health Check API (`/api/health-check/v1.0/health`, where
 * deployed) and the `Version` service (`/services/Version`), and its gateway's traffic port only proves
 * itself by answering at all.
 */
export async function serviceHealth(target: Target): Promise<StepResult> {
  const { manifest } = target;
  const wso2 = manifest.target === 'wso2';
  type Check = [name: string, url: string | undefined, probe: Probe];
  const obkit = (name: string, service: { url: string; managementUrl?: string } | undefined): Check =>
    service?.managementUrl ? [name, service.managementUrl, obkitProbe] : [name, service?.url, serviceAnswers];
  const services: Check[] = [
    wso2
      ? ['identity-server', manifest.identityServer.url, wso2ServerProbe]
      : obkit('identity-server', manifest.identityServer),
    wso2
      ? ['api-manager', manifest.apiManager.url, wso2ServerProbe]
      : obkit('api-manager', manifest.apiManager),
    wso2 ? ['gateway', manifest.gateway.url, serviceAnswers] : obkit('gateway', manifest.gateway),
    obkit('mock-register', manifest.mockRegister),
    obkit('banking', manifest.banking),
  ];
  const actions: string[] = [];
  const down: string[] = [];
  const health: Record<string, unknown> = {};
  for (const [name, url, probe] of services) {
    if (!url) continue;
    try {
      const outcome = await probe(target.http(url, { retries: 0, timeoutMs: 3000 }));
      if (!outcome.ready) down.push(name);
      health[name] = { url, ...outcome };
      actions.push(
        `${name.padEnd(16)} ${outcome.ready ? 'UP  ' : 'DOWN'} ${url}${outcome.detail ? `  (${outcome.detail})` : ''}`,
      );
    } catch (error) {
      down.push(name);
      health[name] = { url, ready: false, error: (error as Error).message };
      actions.push(`${name.padEnd(16)} DOWN ${url}  (${(error as Error).message})`);
    }
  }
  const supervision = await supervisionStatus(target, actions);
  return {
    step: 'status',
    status: 'passed',
    actions,
    data: { services: health, ...(supervision ? { up: supervision } : {}), ...(down.length ? { down } : {}) },
  };
}

interface ProbeOutcome {
  ready: boolean;
  checks?: Record<string, string>;
  detail?: string;
}
type Probe = (http: HttpClient) => Promise<ProbeOutcome>;

/** obkit's own services: `GET /health/ready`, 200 or 503 with `checks`. */
const obkitProbe: Probe = async (http) => {
  const response = await http.request<{ checks?: Record<string, string> }>('GET', '/health/ready', {
    expect: [200, 503],
  });
  const checks = response.data.checks ?? {};
  const failing = Object.entries(checks).filter(([, v]) => v !== 'UP');
  return {
    ready: response.status === 200,
    checks,
    ...(failing.length ? { detail: failing.map(([k, v]) => `${k}: ${v}`).join('; ') } : {}),
  };
};

/** A WSO2 server: the Health Check API where deployed (503 = a dependency failing), else `Version`. */
const wso2ServerProbe: Probe = async (http) => {
  const health = await http.request<unknown>('GET', WSO2_HEALTH_CHECK_PATH, {
    expect: [200, 404, 503],
    responseType: 'text',
  });
  if (health.status !== 404) {
    return {
      ready: health.status === 200,
      detail: `health check API: HTTP ${health.status}${health.status === 200 ? '' : ` ${String(health.data).slice(0, 200)}`}`,
    };
  }
  const version = await http.request<string>('GET', WSO2_VERSION_PATH, {
    expect: [200],
    responseType: 'text',
  });
  const product = /<return>([^<]+)<\/return>/.exec(String(version.data))?.[1];
  return { ready: true, detail: product ?? 'Version service answered' };
};

/** A WSO2 gateway's traffic port, or a Kubernetes Service: an answer below 500 over TLS shows it serves. */
const serviceAnswers: Probe = async (http) => {
  const response = await http
    .request('GET', '/', { expect: [], retry: false, responseType: 'text' })
    .catch((error) => {
      if (error instanceof ApiCallError && error.status !== undefined) return { status: error.status };
      throw error;
    });
  return { ready: response.status < 500, detail: `answered HTTP ${response.status}` };
};

/** A stack started by `obkit up`: whether it runs, and each process's state and restarts (from its lock). */
async function supervisionStatus(
  target: Target,
  actions: string[],
): Promise<Record<string, unknown> | undefined> {
  const { stateDir, target: kind, status } = target.manifest;
  if (kind !== 'native' || !stateDir) return undefined;
  const lock = await runningUp(stateDir);
  if (!lock) {
    actions.push(`obkit up is not running on ${stateDir}`);
    return { running: false };
  }
  actions.push(`obkit up pid ${lock.pid} since ${lock.startedAt}, environment ${status ?? 'unknown'}`);
  for (const [name, process] of Object.entries(lock.processes)) {
    const last = process.lastExit ? ` (last exit: ${process.lastExit.reason} at ${process.lastExit.at})` : '';
    actions.push(`  ${name.padEnd(18)} ${process.state.padEnd(10)} restarts ${process.restarts}${last}`);
  }
  return { running: true, pid: lock.pid, startedAt: lock.startedAt, processes: lock.processes };
}

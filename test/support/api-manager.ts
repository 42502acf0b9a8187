import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { type Config, deepMerge, loadConfig } from '../../lib/config/index.ts';
import { ensureSandboxPki, type SandboxPki } from '../../lib/pki/index.ts';
import { HttpClient } from '../../scripts/lib/api-client/http.ts';
import { ManagementSession } from '../../scripts/lib/api-client/management-session.ts';
import {
  type ApiManager,
  type ApiManagerOptions,
  createApiManager,
} from '../../services/api-manager/server.ts';

export interface RunningApiManager {
  manager: ApiManager;
  url: string;
  config: Config;
  pki: SandboxPki;
  /** An undici dispatcher trusting the sandbox CA (pass as `dispatcher`). */
  dispatcher: Agent;
  /** The scripts' management session as the admin, asking for `scopes` (default: every management scope). */
  managementSession(scopes?: readonly string[]): ManagementSession;
  /** A management access token (password grant as the admin) carrying `scopes`. */
  managementToken(scopes: readonly string[]): Promise<string>;
  /** JSON call with an optional bearer token; returns status, headers and parsed body. */
  call(
    method: string,
    path: string,
    options?: {
      token?: string;
      json?: unknown;
      headers?: Record<string, string>;
      body?: string | Buffer | import('undici').FormData;
    },
  ): Promise<CallResult>;
  /** Status of `GET /health/ready` on the management port, where it is served. */
  readiness(): Promise<number>;
  stop(): Promise<void>;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect response bodies freely
  body: any;
}

export interface StartApiManagerOptions extends ApiManagerOptions {
  /** Use this configuration (its PKI must exist); default: a fresh state dir with a sandbox PKI. */
  config?: Config;
  /** Extra TOML-shaped overrides for the generated configuration. */
  overrides?: Record<string, unknown>;
}

/** Starts api-manager on an ephemeral port, on PGlite in a temporary directory unless told otherwise. */
export async function startApiManager(options: StartApiManagerOptions = {}): Promise<RunningApiManager> {
  const stateDir = options.config ? undefined : await mkdtemp(join(tmpdir(), 'obkit-apim-'));
  const config =
    options.config ??
    loadConfig({
      env: {},
      overrides: deepMerge(
        {
          obkit: {
            state_dir: stateDir,
            log_level: 'warn',
            admin: { username: 'admin', password: 'test-admin-password' },
            api_manager: { port: 0 },
          },
        },
        options.overrides ?? {},
      ),
    });
  const pki = await ensureSandboxPki(join(config.obkit.state_dir, 'pki'));
  const dataDir = options.dataDir ?? (stateDir ? join(stateDir, 'data', 'api-manager') : undefined);
  const manager = await createApiManager(config, { ...options, ...(dataDir ? { dataDir } : {}) });
  const ca = await readFile(pki.caBundle, 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  const call: RunningApiManager['call'] = async (method, path, callOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body = callOptions.body;
    if (callOptions.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(callOptions.json);
    }
    const response = await request(`${manager.url}${path}`, {
      method: method as 'GET',
      headers,
      body: body as string,
      dispatcher,
    });
    const text = await response.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.statusCode, headers: response.headers, body: parsed };
  };
  const http = new HttpClient({ baseUrl: manager.url, tls: { ca } });
  const managementSession = (scopes?: readonly string[]) =>
    new ManagementSession(http, config.obkit.admin, 'obkit-tests', scopes);
  return {
    manager,
    url: manager.url,
    config,
    pki,
    dispatcher,
    call,
    managementSession,
    managementToken: (scopes) => managementSession(scopes).token(),
    async readiness() {
      const url = `https://localhost:${manager.service.managementPort}/health/ready`;
      const response = await request(url, { dispatcher });
      await response.body.dump();
      return response.statusCode;
    },
    async stop() {
      await manager.close();
      await dispatcher.close();
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

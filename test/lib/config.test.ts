import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  basicAuthorization,
  ConfigError,
  DCR_BACKEND_VAULT_ALIAS,
  issuerOf,
  loadConfig,
  managementUrlOf,
  requireAdminPassword,
} from '../../lib/config/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-config-'));
});

const load = (toml: string, env: NodeJS.ProcessEnv = {}) =>
  writeFile(join(dir, 'obkit.toml'), toml).then(() => loadConfig({ file: join(dir, 'obkit.toml'), env }));

function expectConfigError(fn: () => unknown, key: string, problem: RegExp) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe(key);
    expect((error as Error).message).toMatch(problem);
    return;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies WSO2 defaults to the DCR toggles and derives URLs and the issuer', async () => {
    const config = await load(`[obkit]\nstate_dir = "${dir}"\nhostname = "ob.example"\n`);
    expect(config.open_banking_cds.dcr).toMatchObject({
      enable_redirect_uri_hostname_validation: true,
      enable_hostname_validation: false,
      enable_uri_validation: false,
      enable_sector_identifier_uri_validation: false,
      request_jti_validation_enabled: true,
      ssa_jti_validation_enabled: false,
    });
    expect(config.obkit.gateway.url).toBe('https://ob.example:8243');
    expect(issuerOf(config)).toBe('https://ob.example:9446/oauth2/token');
    expect(config.open_banking.dcr.jwks_url_sandbox).toBe('https://ob.example:7000/cdr-register/v1/jwks');
  });

  it('puts each management listener 100 above its public port unless set, and 0 beside a port 0', async () => {
    const config = await load(
      `[obkit]\nstate_dir = "${dir}"\n[obkit.api_manager]\nmanagement_port = 19000\n[obkit.mock_register]\nport = 0\n`,
    );
    expect(config.obkit.gateway.management_port).toBe(8343);
    expect(config.obkit.identity_server.management_port).toBe(9546);
    expect(config.obkit.api_manager.management_port).toBe(19000);
    expect(config.obkit.mock_register.management_port).toBe(0);
    expect(managementUrlOf(config, 'gateway')).toBe('https://localhost:8343');
  });

  it('refuses a management port equal to the public port, or one that would pass 65535', async () => {
    const overrides = (gateway: Record<string, number>) => ({ obkit: { state_dir: dir, gateway } });
    expectConfigError(
      () => loadConfig({ env: {}, overrides: overrides({ port: 8243, management_port: 8243 }) }),
      'obkit.gateway.management_port',
      /differ from the public port/,
    );
    expectConfigError(
      () => loadConfig({ env: {}, overrides: overrides({ port: 65_500 }) }),
      'obkit.gateway.management_port',
      /65500 \+ 100 is not a port/,
    );
  });

  it("accepts WSO2's own keys, including sections obkit does not implement", async () => {
    const config = await load(`
[obkit]
state_dir = "${dir}"
[server]
hostname = "is.wso2.local"
[open_banking.dcr]
validator = "org.wso2.openbanking.cds.identity.dcr.validation.CDSRegistrationValidatorImpl"
jwks_url_sandbox = "https://register.example/sandbox.jwks"
jwks_url_production = "https://register.example/jwks"
[open_banking.dcr.jwks_retriever]
connection_timeout = 1500
read_timeout = 2500
[open_banking.dcr.registration.response_types]
required = true
allowed_values = ["code"]
[open_banking_cds.dcr]
enable_uri_validation = true
`);
    expect(config.open_banking.dcr.jwks_url_production).toBe('https://register.example/jwks');
    expect(config.open_banking.dcr.jwks_retriever).toMatchObject({
      connection_timeout: 1500,
      read_timeout: 2500,
    });
    expect(config.open_banking.dcr.registration.response_types?.allowed_values).toEqual(['code']);
    expect(config.open_banking_cds.dcr.enable_uri_validation).toBe(true);
  });

  it('lets the environment override any key, typed', async () => {
    const config = await load(`[obkit]\nstate_dir = "${dir}"\n`, {
      OBKIT__OBKIT__IDENTITY_SERVER__PORT: '19446',
      OBKIT__OPEN_BANKING_CDS__DCR__ENABLE_HOSTNAME_VALIDATION: 'true',
      DATABASE_URL: 'postgres://db.internal/obkit',
    });
    expect(config.obkit.identity_server.port).toBe(19446);
    expect(config.open_banking_cds.dcr.enable_hostname_validation).toBe(true);
    expect(config.obkit.database.url).toBe('postgres://db.internal/obkit');
  });

  it('names the key and the problem when a value is invalid', async () => {
    await writeFile(join(dir, 'bad.toml'), '[obkit.identity_server]\nport = "high"\n');
    expectConfigError(
      () => loadConfig({ file: join(dir, 'bad.toml'), env: {} }),
      'obkit.identity_server.port',
      /number/,
    );
    await writeFile(join(dir, 'bad.toml'), '[open_banking_cds.dcr]\nenable_uri_validation = "yes"\n');
    expectConfigError(
      () => loadConfig({ file: join(dir, 'bad.toml'), env: {} }),
      'open_banking_cds.dcr.enable_uri_validation',
      /boolean/,
    );
    await writeFile(
      join(dir, 'bad.toml'),
      '[open_banking.dcr]\njwks_url_sandbox = "http://plain.example/jwks"\n',
    );
    expectConfigError(
      () => loadConfig({ file: join(dir, 'bad.toml'), env: {} }),
      'open_banking.dcr.jwks_url_sandbox',
      /./,
    );
  });

  it('rejects unknown obkit keys rather than ignoring a typo', async () => {
    await writeFile(join(dir, 'typo.toml'), '[obkit]\nstate_dri = "/tmp"\n');
    expectConfigError(() => loadConfig({ file: join(dir, 'typo.toml'), env: {} }), 'obkit', /state_dri/);
  });

  it('reports a file that is missing or not TOML', async () => {
    expectConfigError(() => loadConfig({ file: join(dir, 'absent.toml'), env: {} }), 'file', /cannot read/);
    await writeFile(join(dir, 'broken.toml'), '[obkit\n');
    expectConfigError(
      () => loadConfig({ file: join(dir, 'broken.toml'), env: {} }),
      'file',
      /not valid TOML/,
    );
  });

  it("takes each mode's abuse limits for the keys not set, and checks the ones that are", async () => {
    const sandbox = await load(
      `[obkit]\nstate_dir = "${dir}"\n[obkit.limits]\ntoken_per_source = { requests = 50 }\n`,
      { OBKIT__OBKIT__LIMITS__DCR_PER_CLIENT__REQUESTS: '0' },
    );
    expect(sandbox.obkit.limits).toMatchObject({
      token_per_source: { requests: 50, window_seconds: 60 },
      token_per_client: { requests: 1200, window_seconds: 60 },
      dcr_per_client: { requests: 0, window_seconds: 60 },
      admin_lockout: { max_failures: 20, window_seconds: 300, lockout_seconds: 60 },
      plan_sync_interval_ms: 1000,
    });
    const production = loadConfig({
      env: {},
      overrides: {
        obkit: {
          mode: 'production',
          state_dir: dir,
          admin: { password: 'a-strong-production-password-0123' },
        },
      },
    });
    expect(production.obkit.limits).toMatchObject({
      token_per_client: { requests: 120, window_seconds: 60 },
      token_per_source: { requests: 600, window_seconds: 60 },
      dcr_per_client: { requests: 30, window_seconds: 60 },
      dcr_per_source: { requests: 120, window_seconds: 60 },
      admin_lockout: { max_failures: 5, window_seconds: 900, lockout_seconds: 900 },
    });
    await expect(
      load(`[obkit]\nstate_dir = "${dir}"\n[obkit.limits]\ntoken_per_client = { requests = -1 }\n`),
    ).rejects.toThrow(/obkit\.limits\.token_per_client\.requests/);
    await expect(
      load(
        `[obkit]\nstate_dir = "${dir}"\n[obkit.limits]\nadmin_lockout = { max_failures = 3, lockout = 5 }\n`,
      ),
    ).rejects.toThrow(/obkit\.limits\.admin_lockout/);
  });

  it('has no default password outside sandbox', () => {
    // The services that accept it require it (identity server, api-manager); the gateway has none.
    const withoutPassword = loadConfig({
      env: {},
      overrides: { obkit: { mode: 'production', state_dir: dir } },
    });
    expect(withoutPassword.obkit.admin.password).toBe('');
    expectConfigError(
      () => requireAdminPassword(withoutPassword),
      'obkit.admin.password',
      /required outside sandbox/,
    );
    const config = loadConfig({
      env: { OBKIT_ADMIN_PASSWORD: 's3cret-from-a-secret' },
      overrides: { obkit: { mode: 'production', state_dir: dir } },
    });
    expect(config.obkit.admin.password).toBe('s3cret-from-a-secret');
    expect(config.obkit.allow_private_addresses).toBe(false);
  });

  it('refuses a weak admin password in production, naming the key and never the password', () => {
    const production = (password: string) => () =>
      loadConfig({
        env: { OBKIT_ADMIN_PASSWORD: password },
        overrides: { obkit: { mode: 'production', state_dir: dir } },
      });
    for (const weak of ['admin', 'wso2carbon', 'changeme', 'fifteen-chars-x']) {
      expectConfigError(
        production(weak),
        'obkit.admin.password',
        /too weak for production mode: \d+ characters, at least 16/,
      );
    }
    for (const weak of ['aaaaaaaaaaaaaaaaaaaa', 'adminadminadmin1']) {
      expectConfigError(production(weak), 'obkit.admin.password', /fewer than 8 distinct characters/);
    }
    try {
      production('adminadminadmin1')();
    } catch (error) {
      expect((error as Error).message).not.toContain('adminadminadmin1');
    }
    expect(production('Xk3-q9Lm_2vRt7Pw')().obkit.admin.password).toBe('Xk3-q9Lm_2vRt7Pw');
    // Sandbox keeps working with whatever the operator chose: only production is held to it.
    const sandbox = loadConfig({
      env: { OBKIT_ADMIN_PASSWORD: 'admin' },
      overrides: { obkit: { state_dir: dir } },
    });
    expect(sandbox.obkit.admin.password).toBe('admin');
  });

  it("generates the gateway's own DCR backend credential in sandbox, into the state directory's vault", async () => {
    const config = loadConfig({ env: {}, overrides: { obkit: { state_dir: dir } } });
    const { username, password } = config.obkit.dcr_backend;
    expect(username).toBe('obkit-gateway');
    expect(password).toHaveLength(24);
    expect(password).not.toBe(config.obkit.admin.password);
    expect(loadConfig({ env: {}, overrides: { obkit: { state_dir: dir } } }).obkit.dcr_backend.password).toBe(
      password,
    );
    const credential = join(dir, 'dcr-backend-credential.json');
    expect((await stat(credential)).mode & 0o777).toBe(0o600);
    const entry = join(dir, 'vault', DCR_BACKEND_VAULT_ALIAS);
    expect(config.obkit.vault_dir).toBe(join(dir, 'vault'));
    expect(await readFile(entry, 'utf8')).toBe(basicAuthorization('obkit-gateway', password));
    expect((await stat(entry)).mode & 0o777).toBe(0o600);
    // A credential given by the operator replaces the entry; a vault directory they configured is theirs.
    loadConfig({
      env: { OBKIT_DCR_BACKEND_PASSWORD: 'given-backend-password' },
      overrides: { obkit: { state_dir: dir } },
    });
    expect(await readFile(entry, 'utf8')).toBe(basicAuthorization('obkit-gateway', 'given-backend-password'));
    const theirs = join(dir, 'mounted-secret');
    loadConfig({ env: {}, overrides: { obkit: { state_dir: dir, vault_dir: theirs } } });
    expect(existsSync(theirs)).toBe(false);
  });

  it("refuses a weak DCR backend password in production, and one equal to the admin's anywhere", () => {
    const strong = 'Xk3-q9Lm_2vRt7Pw';
    expectConfigError(
      () =>
        loadConfig({
          env: { OBKIT_ADMIN_PASSWORD: strong, OBKIT_DCR_BACKEND_PASSWORD: 'gateway' },
          overrides: { obkit: { mode: 'production', state_dir: dir } },
        }),
      'obkit.dcr_backend.password',
      /too weak for production mode/,
    );
    for (const mode of ['production', 'sandbox']) {
      expectConfigError(
        () =>
          loadConfig({
            env: { OBKIT_ADMIN_PASSWORD: strong, OBKIT_DCR_BACKEND_PASSWORD: strong },
            overrides: { obkit: { mode, state_dir: dir } },
          }),
        'obkit.dcr_backend.password',
        /must differ from obkit.admin.password/,
      );
    }
  });

  it('refuses jwks_url_sandbox in production mode', async () => {
    await writeFile(
      join(dir, 'production.toml'),
      `[obkit]\nmode = "production"\nstate_dir = "${dir}"\n[open_banking.dcr]\njwks_url_sandbox = "https://register.example/sandbox.jwks"\njwks_url_production = "https://register.example/jwks"\n`,
    );
    const env = { OBKIT_ADMIN_PASSWORD: 'Xk3-q9Lm_2vRt7Pw' };
    expectConfigError(
      () => loadConfig({ file: join(dir, 'production.toml'), env }),
      'open_banking.dcr.jwks_url_sandbox',
      /must be empty in production mode/,
    );
    expect(
      loadConfig({
        file: join(dir, 'production.toml'),
        env: { ...env, OBKIT__OPEN_BANKING__DCR__JWKS_URL_SANDBOX: '' },
      }).open_banking.dcr.jwks_url_production,
    ).toBe('https://register.example/jwks');
  });

  it('refuses private-address fetches outside sandbox', () => {
    expectConfigError(
      () =>
        loadConfig({
          env: { OBKIT_ADMIN_PASSWORD: 'x' },
          overrides: { obkit: { mode: 'production', state_dir: dir, allow_private_addresses: true } },
        }),
      'obkit.allow_private_addresses',
      /sandbox/,
    );
  });

  it('generates one sandbox admin password per state directory, readable only by its owner', async () => {
    const first = loadConfig({ env: {}, overrides: { obkit: { state_dir: dir } } });
    const second = loadConfig({ env: {}, overrides: { obkit: { state_dir: dir } } });
    expect(first.obkit.admin.password).toHaveLength(24);
    expect(second.obkit.admin.password).toBe(first.obkit.admin.password);
    const file = join(dir, 'admin-credential.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8')).password).toBe(first.obkit.admin.password);
  });
});

import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, issuerOf, loadConfig } from '../../lib/config/index.ts';

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

  it('has no default password outside sandbox', () => {
    expectConfigError(
      () => loadConfig({ env: {}, overrides: { obkit: { mode: 'production', state_dir: dir } } }),
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

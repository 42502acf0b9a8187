import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMPONENT_KEYS, COMPONENTS, managementPort } from '../../lib/config/components.ts';
import { chartDir, helm, templateArgs } from '../support/helm.ts';

// Helm cannot import lib/config/components.ts, so the chart keeps a copy of the component table
// (`obkit.components` in _helpers.tpl, and each component's default Service port in values.yaml).
// Here the copy is rendered by helm itself, every optional component on, and held equal to the table.

const sandbox = path.join(chartDir, 'ci', 'sandbox-values.yaml');
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'obkit-chart-components-'));
  await cp(chartDir, path.join(scratch, 'obkit'), { recursive: true });
  // A probe template that prints the chart's table as the other templates see it.
  await writeFile(
    path.join(scratch, 'obkit', 'templates', 'zz-components-probe.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: components-probe\ndata:\n  components: |\n{{ include "obkit.components" . | indent 4 }}\n',
  );
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("the chart's component table", () => {
  it('lists every component with the name, section, port and management port of lib/config/components.ts', async () => {
    const args = templateArgs([sandbox], ['mockRegister.enabled=true', 'banking.enabled=true'], {
      chart: path.join(scratch, 'obkit'),
    });
    const result = await helm([...args, '--show-only', 'templates/zz-components-probe.yaml']);
    expect(result.code, result.stderr).toBe(0);
    const rows = parse(parse(result.stdout).data.components) as Array<Record<string, unknown>>;
    expect(
      rows.map(({ name, key, tomlTable, port, managementPort }) => ({
        name,
        key,
        tomlTable,
        port,
        managementPort,
      })),
    ).toEqual(
      COMPONENT_KEYS.map((key) => ({
        name: COMPONENTS[key].name,
        key,
        tomlTable: COMPONENTS[key].configKey,
        port: COMPONENTS[key].port,
        managementPort: managementPort(key),
      })),
    );
  });

  it("gives each component's Service the table's port by default", async () => {
    const values = parse(await readFile(path.join(chartDir, 'values.yaml'), 'utf8'));
    for (const key of COMPONENT_KEYS) expect(values[key].service.port, key).toBe(COMPONENTS[key].port);
  });
});

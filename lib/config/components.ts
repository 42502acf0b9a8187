/**
 * The components and their ports, stated once. The stack, the configuration defaults and `obkit up`
 * read this table; the chart keeps a copy in `obkit.components` (charts/obkit/templates/_helpers.tpl,
 * Helm cannot import TypeScript) that test/charts/components.test.ts holds equal to it.
 *
 * - `name`: the component's name (Deployment/Service suffix, log file, app.kubernetes.io/component);
 * - `configKey`: its section of the configuration (`[obkit.<configKey>]`);
 * - `port`: the public port the service listens on by default;
 * - `basePortOffset`: its distance from N under `obkit up --base-port N`.
 */
export const COMPONENTS = {
  identityServer: { name: 'identity-server', configKey: 'identity_server', port: 9446, basePortOffset: 1 },
  apiManager: { name: 'api-manager', configKey: 'api_manager', port: 9443, basePortOffset: 2 },
  gateway: { name: 'gateway', configKey: 'gateway', port: 8243, basePortOffset: 0 },
  mockRegister: { name: 'mock-register', configKey: 'mock_register', port: 7000, basePortOffset: 3 },
  banking: { name: 'banking', configKey: 'banking', port: 9447, basePortOffset: 4 },
} as const;

export type ComponentKey = keyof typeof COMPONENTS;
export type ComponentName = (typeof COMPONENTS)[ComponentKey]['name'];
export const COMPONENT_KEYS = Object.keys(COMPONENTS) as ComponentKey[];

/** Default distance of a service's management port (`/health/*`, `/metrics`) from its public port. */
export const MANAGEMENT_PORT_OFFSET = 100;

/** A component's default management port: its public port + MANAGEMENT_PORT_OFFSET. */
export function managementPort(component: ComponentKey): number {
  return COMPONENTS[component].port + MANAGEMENT_PORT_OFFSET;
}

const BY_NAME = new Map(Object.values(COMPONENTS).map((component) => [component.name, component]));

/** A component's row, by its name (`gateway`, `identity-server`, …). */
export function componentNamed(name: ComponentName): (typeof COMPONENTS)[ComponentKey] {
  const component = BY_NAME.get(name);
  if (!component) throw new Error(`no component named ${name}`);
  return component;
}

/** The highest `basePortOffset`: `obkit up --base-port N` uses ports N..N+this (and their management ports). */
export const BASE_PORT_SPAN = Math.max(...Object.values(COMPONENTS).map((c) => c.basePortOffset));

import type { Config } from '../../../lib/config/index.ts';

export interface GatewayEnvironment {
  name: string;
  displayName: string;
  vhosts: string[];
}

/** The one gateway environment, `Default`, served at the gateway's host (and `localhost`). */
export function gatewayEnvironments(config: Config): GatewayEnvironment[] {
  const hosts = new Set<string>();
  const gatewayUrl = config.obkit.gateway.url;
  if (gatewayUrl) hosts.add(new URL(gatewayUrl).hostname.replace(/^\[|\]$/g, ''));
  hosts.add(config.obkit.hostname);
  hosts.add('localhost');
  return [{ name: 'Default', displayName: 'Default', vhosts: [...hosts] }];
}

/** The admin v4 EnvironmentDTO. */
export function environmentDto(environment: GatewayEnvironment, config: Config) {
  const gatewayPort = config.obkit.gateway.url
    ? Number(new URL(config.obkit.gateway.url).port || 443)
    : config.obkit.gateway.port;
  return {
    id: environment.name,
    name: environment.name,
    displayName: environment.displayName,
    provider: 'wso2',
    type: 'hybrid',
    gatewayType: 'Regular',
    description: 'obkit native gateway',
    isReadOnly: true,
    vhosts: environment.vhosts.map((host) => ({
      host,
      httpContext: '',
      httpPort: 80,
      httpsPort: gatewayPort,
      wsPort: 9099,
      wssPort: 8099,
    })),
    endpointURIs: [],
    additionalProperties: [],
  };
}

import type { Config } from '../../lib/config/index.ts';
import type { OutboundClient } from '../../lib/http/outbound.ts';
import type { Database } from '../../lib/storage/index.ts';
import type { TokenService } from './auth/tokens.ts';
import type { ChangeNotifier } from './changes.ts';
import type { SecretBox } from './secrets.ts';

/** What every route module of api-manager is given. */
export interface ApiManagerContext {
  config: Config;
  db: Database;
  secrets: SecretBox;
  tokens: TokenService;
  changes: ChangeNotifier;
  /** Fetches definitions and well-known documents (HTTPS, time-outs, size cap, address policy). */
  outbound: OutboundClient;
  /** api-manager's public base URL (known once bound when the configured port is 0). */
  url(): string;
  /** API names reachable by out-of-band provisioned clients. */
  regulatoryApis: readonly string[];
}

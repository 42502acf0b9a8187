import type { Config } from '../../lib/config/index.ts';
import type { ChangeNotifier } from '../../lib/gateway-feed/change-notifier.ts';
import type { OutboundClient } from '../../lib/http/outbound.ts';
import type { SecretBox } from '../../lib/secrets/index.ts';
import type { Database } from '../../lib/storage/index.ts';
import type { TokenService } from './auth/tokens.ts';

/** What every route module of api-manager is given. */
export interface ApiManagerContext {
  config: Config;
  db: Database;
  /** Encrypts what must be used or given back later (lib/secrets), under a key outside the database. */
  secrets: SecretBox;
  tokens: TokenService;
  changes: ChangeNotifier;
  /** Fetches definitions and well-known documents (HTTPS, time-outs, size cap, address policy). */
  outbound: OutboundClient;
  /** api-manager's public base URL (known once bound when the configured port is 0). */
  url(): string;
  /** Aborted when the service starts to shut down (long polls answer at once). */
  stopping: AbortSignal;
  /** API names reachable by out-of-band provisioned clients. */
  regulatoryApis: readonly string[];
}

import { ADMIN_API } from '../../../lib/wso2/management-api.ts';
import type { RequestOptions } from './http.ts';
import type { List, ManagementSession } from './management-session.ts';

// The WSO2 Admin v4 REST API (key managers).

export interface KeyManagerDto {
  id?: string;
  name: string;
  type: string;
  enabled?: boolean;
  description?: string;
  additionalProperties?: Record<string, unknown>;
  [field: string]: unknown;
}

export class AdminApi {
  readonly #session: ManagementSession;
  static readonly base = ADMIN_API;

  constructor(session: ManagementSession) {
    this.#session = session;
  }

  #call<T>(method: string, path: string, options?: RequestOptions) {
    return this.#session.call<T>(method, `${AdminApi.base}${path}`, options);
  }

  async listKeyManagers(): Promise<KeyManagerDto[]> {
    return (await this.#call<List<KeyManagerDto>>('GET', '/key-managers')).data.list;
  }

  async getKeyManager(id: string): Promise<KeyManagerDto> {
    return (await this.#call<KeyManagerDto>('GET', `/key-managers/${encodeURIComponent(id)}`)).data;
  }

  async addKeyManager(keyManager: KeyManagerDto): Promise<KeyManagerDto> {
    return (
      await this.#call<KeyManagerDto>('POST', '/key-managers', { data: keyManager, expect: [200, 201] })
    ).data;
  }

  async updateKeyManager(id: string, keyManager: KeyManagerDto): Promise<KeyManagerDto> {
    return (
      await this.#call<KeyManagerDto>('PUT', `/key-managers/${encodeURIComponent(id)}`, { data: keyManager })
    ).data;
  }
}

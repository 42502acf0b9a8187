import { Agent, request } from 'undici';
import type { TransportCertificate } from './recipient.ts';

/**
 * One HTTP exchange of a conformance case, kept so a failure can name the request and the answer. The
 * request is summarised (method, URL, certificate, what the body is), never a credential or a key.
 */

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
}

export interface Exchange {
  request: string;
  /** The answer, or why there was none (a refused handshake is an answer for certificate cases). */
  answer: Answer | { refused: string };
}

export interface CallOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  /** Which transport certificate (its name for the report); null: none. */
  certificate: { name: string; pair: TransportCertificate } | null;
  /** What the body is, in words, for the report. */
  describe?: string;
  headers?: Record<string, string>;
  body?: string;
}

export class Caller {
  readonly #ca: string | undefined;
  /** The gateway routes by vhost: reached by another name, it is sent the vhost. */
  readonly #hosts: Map<string, string>;
  readonly #agents = new Map<string, Agent>();

  constructor(ca: string | undefined, hosts: Map<string, string> = new Map()) {
    this.#ca = ca;
    this.#hosts = hosts;
  }

  async call(options: CallOptions, into: Exchange[]): Promise<Answer | { refused: string }> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const host = this.#hosts.get(new URL(options.url).origin);
    if (host) headers.host = host;
    const summary = [
      `${options.method} ${options.url}`,
      `certificate: ${options.certificate?.name ?? 'none'}`,
      ...(headers.authorization ? [`authorization: ${headers.authorization.split(' ')[0]} …`] : []),
      ...(headers['content-type'] ? [`content-type: ${headers['content-type']}`] : []),
      ...(options.describe ? [`body: ${options.describe}`] : []),
    ].join('; ');
    let answer: Answer | { refused: string };
    try {
      const response = await request(options.url, {
        method: options.method,
        headers,
        body: options.body ?? null,
        dispatcher: this.#agent(options.certificate),
      });
      const text = await response.body.text();
      let body: Record<string, unknown> = {};
      try {
        const parsed = text ? JSON.parse(text) : {};
        body = parsed && typeof parsed === 'object' ? parsed : { value: parsed };
      } catch {
        body = {};
      }
      answer = { status: response.statusCode, headers: response.headers, body, text };
    } catch (error) {
      answer = { refused: connectionError(error) };
    }
    into.push({ request: summary, answer });
    return answer;
  }

  close(): Promise<void> {
    return Promise.all([...this.#agents.values()].map((agent) => agent.close())).then(() => undefined);
  }

  #agent(certificate: CallOptions['certificate']): Agent {
    const name = certificate?.name ?? '';
    let agent = this.#agents.get(name);
    if (!agent) {
      agent = new Agent({
        connect: {
          ...(this.#ca ? { ca: this.#ca } : {}),
          ...(certificate ? { cert: certificate.pair.certificate, key: certificate.pair.key } : {}),
          timeout: 10_000,
        },
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      this.#agents.set(name, agent);
    }
    return agent;
  }
}

function connectionError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  const message = cause?.message ?? (error as Error).message;
  return code ? `${code}: ${message}` : message;
}

export function isAnswer(answer: Answer | { refused: string }): answer is Answer {
  return 'status' in answer;
}

/** An answer in one line: status, error and description, or the refused connection. */
export function describeAnswer(answer: Answer | { refused: string }): string {
  if (!isAnswer(answer)) return `no HTTP answer (${answer.refused})`;
  const { error, error_description: description } = answer.body;
  if (typeof error === 'string')
    return `HTTP ${answer.status} ${error}${typeof description === 'string' ? `: ${description}` : ''}`;
  return `HTTP ${answer.status}${answer.text ? ` ${answer.text.slice(0, 200)}` : ''}`;
}

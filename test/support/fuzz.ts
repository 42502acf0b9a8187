import { Readable } from 'node:stream';
import tls from 'node:tls';
import fc from 'fast-check';
import { type Agent, request } from 'undici';
import type { ErrorShape } from '../../lib/http/errors.ts';

/**
 * Property-based fuzzing of an obkit service over real HTTPS: random methods on its routes, path
 * parameters, repeated and malformed query strings, credentials, content types and bodies of every kind
 * (JSON, JWT, form, multipart, bytes, oversized, chunked). The properties: the answer comes (no hang, no
 * reset), it is never a 5xx, and an error is JSON in the surface's shape. Seeded and bounded: the seed
 * and run count come from OBKIT_FUZZ_SEED / OBKIT_FUZZ_RUNS, so a failure prints a replayable seed.
 */

export interface FuzzTarget {
  /** Base URL of the service, e.g. https://localhost:1234. */
  url: string;
  /** Each trusts the service's CA and presents a client certificate the routes expect (or none). */
  dispatchers: Agent[];
  /** Route templates, `:name` for path parameters, e.g. `GET /api/am/publisher/v4/apis/:apiId`. */
  routes: string[];
  /** Values of path parameters that exist (so that handlers run past their look-ups). */
  ids?: string[];
  /** Query parameter names the routes read. */
  queryNames?: string[];
  /** Authorization header values that authenticate (a token with every scope, the admin credential). */
  credentials?: string[];
  /** Other headers the routes read (e.g. `x-wso2-client-id`), with plausible values. */
  headers?: Record<string, string[]>;
  /** The service's request body limit: bodies just over it are sent too. */
  bodyLimit: number;
  /** Error body shape by path. */
  shapeOf: (path: string) => ErrorShape;
}

export interface FuzzReport {
  requests: number;
  byStatus: Record<number, number>;
  /** Requests answered with a 5xx (the property fails on the first; kept for the report). */
  serverErrors: string[];
}

const SEED = Number(process.env.OBKIT_FUZZ_SEED ?? 20_240_901);
const DEFAULT_RUNS = Number(process.env.OBKIT_FUZZ_RUNS ?? 300);
/** No answer within this is a hang. */
const ANSWER_TIMEOUT_MS = 15_000;

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

/** Percent-encoded path and query values that have broken services before, and some that might. */
const HOSTILE_VALUES = [
  '%00',
  'a%00b',
  '%FF',
  '%C3%28',
  '%E0%A4%A',
  '%',
  '%zz',
  '..',
  '%2e%2e%2f',
  '%2F',
  '-1',
  '0',
  '1e309',
  'null',
  '%27%20OR%201%3D1--',
  '%24%7B7*7%7D',
  '%0D%0ASet-Cookie%3Ax',
  '%F0%9F%92%A9',
  'a'.repeat(3000),
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/jwt',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data; boundary=fuzz',
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=latin1',
  ';;;',
  'x',
];

const HOSTILE_CREDENTIALS = [
  'Bearer',
  'Bearer x.y.z',
  'Bearer eyJhbGciOiJub25lIn0.e30.',
  'Basic',
  'Basic %%%',
  `Basic ${Buffer.from('%zz:%zz').toString('base64')}`,
  `Basic ${Buffer.from('admin').toString('base64')}`,
  `Basic ${Buffer.from(':').toString('base64')}`,
  `Basic ${Buffer.from('a\u0000b:c').toString('base64')}`,
  'Negotiate abc',
];

interface FuzzRequest {
  /** Index into the target's dispatchers. */
  connection: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Body;
}

type Body =
  | { kind: 'none' }
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'chunked'; data: Buffer }
  | { kind: 'oversized'; chunked: boolean };

export async function fuzzService(target: FuzzTarget, runs = DEFAULT_RUNS): Promise<FuzzReport> {
  const report: FuzzReport = { requests: 0, byStatus: {}, serverErrors: [] };
  await fc.assert(
    fc.asyncProperty(requestArbitrary(target), async (input) => {
      const outcome = await send(target, input);
      report.requests += 1;
      report.byStatus[outcome.status] = (report.byStatus[outcome.status] ?? 0) + 1;
      if (outcome.status >= 500)
        report.serverErrors.push(`${input.method} ${input.path} → ${outcome.status}`);
      checkAnswer(target, input, outcome);
    }),
    { seed: SEED, numRuns: runs, endOnFailure: true },
  );
  return report;
}

function requestArbitrary(target: FuzzTarget): fc.Arbitrary<FuzzRequest> {
  const value = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
    { weight: 3, arbitrary: fc.string({ maxLength: 24, unit: 'binary' }).map(encodeURIComponent) },
    { weight: 3, arbitrary: fc.constantFrom(...(target.ids?.length ? target.ids : ['x'])) },
  );
  const path = fc
    .tuple(
      fc.constantFrom(...target.routes),
      fc.array(value, { minLength: 4, maxLength: 4 }),
      fc.constantFrom('', '', '', '/', '/extra', '//'),
    )
    .map(([route, values, suffix]) => {
      let index = 0;
      const [, template] = route.split(' ') as [string, string];
      return template.replace(/:\w+/g, () => values[index++ % values.length]!) + suffix;
    });
  const queryName = fc.oneof(
    fc.constantFrom(...(target.queryNames ?? ['query']), 'limit', 'offset'),
    fc.string({ maxLength: 8 }).map(encodeURIComponent),
  );
  const query = fc.oneof(
    fc.constant(''),
    fc
      .array(fc.tuple(queryName, value), { minLength: 1, maxLength: 4 })
      .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
    // The same parameter twice (an array where a string is expected) and bare oddities.
    fc.tuple(queryName, value, value).map(([k, a, b]) => `?${k}=${a}&${k}=${b}`),
    fc.constantFrom('?', '?&&', '?a', '?=', '?%', '?a[b]=c', '?__proto__[x]=1'),
  );
  const method = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...target.routes.map((route) => route.split(' ')[0]!)) },
    { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
  );
  return fc
    .record({
      connection: fc.nat({ max: target.dispatchers.length - 1 }),
      method,
      path,
      query,
      // Mostly credentials that work, so that requests get past authentication into the handlers.
      authorization: fc.option(
        fc.oneof(
          {
            weight: target.credentials?.length ? 3 : 0,
            arbitrary: fc.constantFrom(...(target.credentials ?? ['-'])),
          },
          { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_CREDENTIALS) },
        ),
      ),
      contentType: fc.option(fc.constantFrom(...CONTENT_TYPES)),
      accept: fc.option(fc.constantFrom('text/html', 'application/json', '*/*', 'application/xml')),
      extra: extraHeaders(target),
      body: bodyArbitrary(),
    })
    .map((r) => {
      const headers: Record<string, string> = { ...r.extra };
      if (r.authorization !== null) headers.authorization = r.authorization;
      if (r.contentType !== null) headers['content-type'] = r.contentType;
      if (r.accept !== null) headers.accept = r.accept;
      if (r.body.kind !== 'none' && headers['content-type'] === undefined) {
        headers['content-type'] = 'application/octet-stream';
      }
      return { connection: r.connection, method: r.method, path: r.path + r.query, headers, body: r.body };
    });
}

function extraHeaders(target: FuzzTarget): fc.Arbitrary<Record<string, string>> {
  const named = Object.entries({
    'x-wso2-mutual-auth-cert': ['garbage', '%%%', '-----BEGIN%20CERTIFICATE-----'],
    'content-encoding': ['gzip', 'br', 'identity'],
    'x-forwarded-for': ['1.2.3.4', 'garbage'],
    ...target.headers,
  });
  return fc
    .subarray(named)
    .chain((chosen) =>
      fc.tuple(...chosen.map(([name, values]) => fc.constantFrom(...values).map((v) => [name, v] as const))),
    )
    .map((pairs) => Object.fromEntries(pairs));
}

function bodyArbitrary(): fc.Arbitrary<Body> {
  const bytes = (arbitrary: fc.Arbitrary<string | Uint8Array>) =>
    arbitrary.map((data): Body => ({ kind: 'bytes', data: Buffer.from(data) }));
  const jsonWithNul = fc
    .record({ name: fc.string(), value: fc.string() })
    .map((object) => JSON.stringify({ ...object, name: `${object.name}\u0000`, description: 'a\u0000b' }));
  const segment = () =>
    fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url'));
  const jwtLike = fc.tuple(segment(), segment(), segment()).map((parts) => parts.join('.'));
  const form = fc
    .array(
      fc.tuple(
        fc.constantFrom('grant_type', 'client_id', 'token', 'scope', 'username', 'x'),
        fc.constantFrom(...HOSTILE_VALUES, 'client_credentials', 'password'),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));
  const multipart = fc
    .tuple(
      fc.constantFrom('file', 'additionalProperties', 'url', 'type', 'policySpecFile', 'inlineAPIDefinition'),
      fc.string({ maxLength: 64 }),
      fc.boolean(),
    )
    .map(([name, content, truncated]) => {
      const whole = `--fuzz\r\nContent-Disposition: form-data; name="${name}"; filename="f"\r\n\r\n${content}\r\n--fuzz--\r\n`;
      return truncated ? whole.slice(0, Math.max(10, whole.length / 2)) : whole;
    });
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 2, arbitrary: bytes(fc.json({ maxDepth: 3 })) },
    { weight: 1, arbitrary: bytes(jsonWithNul) },
    { weight: 2, arbitrary: bytes(fc.string({ maxLength: 200, unit: 'binary' })) },
    { weight: 1, arbitrary: bytes(fc.uint8Array({ maxLength: 256 })) },
    { weight: 2, arbitrary: bytes(jwtLike) },
    { weight: 2, arbitrary: bytes(form) },
    { weight: 2, arbitrary: bytes(multipart) },
    { weight: 1, arbitrary: fc.json().map((data): Body => ({ kind: 'chunked', data: Buffer.from(data) })) },
    { weight: 1, arbitrary: fc.boolean().map((chunked): Body => ({ kind: 'oversized', chunked })) },
  );
}

interface Outcome {
  status: number;
  contentType: string;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

async function send(target: FuzzTarget, input: FuzzRequest): Promise<Outcome> {
  const response = await request(`${target.url}${input.path}`, {
    method: input.method as 'GET',
    headers: input.headers,
    body: bodyOf(input.body, target.bodyLimit),
    dispatcher: target.dispatchers[input.connection],
    headersTimeout: ANSWER_TIMEOUT_MS,
    bodyTimeout: ANSWER_TIMEOUT_MS,
  }).catch((error: Error) => {
    throw new Error(`no answer to ${input.method} ${input.path.slice(0, 200)}: ${error.message}`);
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    contentType: String(response.headers['content-type'] ?? ''),
    text,
    headers: response.headers,
  };
}

function bodyOf(body: Body, limit: number): string | Buffer | Readable | null {
  switch (body.kind) {
    case 'none':
      return null;
    case 'bytes':
      return body.data;
    case 'chunked':
      return Readable.from([body.data.subarray(0, 3), body.data.subarray(3)]);
    case 'oversized': {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const count = Math.ceil((limit + 1) / chunk.length) + 1;
      if (!body.chunked) return Buffer.concat(Array.from({ length: count }, () => chunk));
      return Readable.from(Array.from({ length: count }, () => chunk));
    }
  }
}

function checkAnswer(target: FuzzTarget, input: FuzzRequest, outcome: Outcome): void {
  const what = `${input.method} ${input.path.slice(0, 200)} (${input.body.kind}) → ${outcome.status} ${outcome.text.slice(0, 200)}`;
  if (outcome.status >= 500) throw new Error(`server error: ${what}`);
  if (outcome.status < 400 || input.method === 'HEAD') return;
  // The identity server's sandbox consent pages answer a person in a browser: errors too are HTML pages.
  if (input.path.startsWith('/consent/') && /^text\/html/.test(outcome.contentType)) return;
  // So does the authorisation endpoint, for an error it cannot send back to the recipient (docs/consent.md).
  if (/^\/oauth2\/authorize(\?|$)/.test(input.path) && /^text\/html/.test(outcome.contentType)) return;
  if (!/^application\/json/.test(outcome.contentType))
    throw new Error(`error not JSON (${outcome.contentType}): ${what}`);
  let body: unknown;
  try {
    body = JSON.parse(outcome.text);
  } catch {
    throw new Error(`error body does not parse: ${what}`);
  }
  const shape = target.shapeOf(input.path.split('?')[0]!);
  if (!SHAPES[shape](body)) throw new Error(`error body not in the ${shape} shape: ${what}`);
  if (outcome.status === 405 && !outcome.headers.allow) throw new Error(`405 without Allow: ${what}`);
}

// biome-ignore lint/suspicious/noExplicitAny: error bodies are checked field by field
const SHAPES: Record<ErrorShape, (body: any) => boolean> = {
  oauth: (body) => typeof body?.error === 'string' && typeof body.error_description === 'string',
  wso2: (body) =>
    typeof body?.code === 'number' &&
    typeof body.message === 'string' &&
    typeof body.description === 'string',
  cds: (body) =>
    Array.isArray(body?.errors) &&
    body.errors.every((error: Record<string, unknown>) =>
      ['code', 'title', 'detail'].every((field) => typeof error?.[field] === 'string'),
    ),
};

/**
 * Requests the HTTP parser itself refuses (bad request line, header overflow, broken chunking, request
 * smuggling shapes), sent on raw TLS sockets: each must be answered with a 4xx JSON, not a dropped socket.
 */
export const MALFORMED_HTTP = [
  'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
  'GET /\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n',
  `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
  'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
];

export async function sendRaw(
  url: string,
  ca: string,
  payload: string,
  identity?: { cert: string; key: string },
): Promise<{ status: number; contentType: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: hostname, port: Number(port), ca, servername: hostname, ...identity },
      () => socket.write(payload),
    );
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error('no answer (timeout)')));
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', (error) => (received ? finish() : reject(error)));
    socket.on('end', finish);
    socket.on('close', finish);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
      const head = received.slice(0, received.indexOf('\r\n\r\n'));
      const contentType = /content-type: *([^\r\n]+)/i.exec(head)?.[1] ?? '';
      resolve({ status, contentType, body: received.slice(received.indexOf('\r\n\r\n') + 4) });
    }
  });
}

/** One line for the test log: requests sent and answers by status. */
export function reportLine(service: string, report: FuzzReport): string {
  const statuses = Object.entries(report.byStatus)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ');
  return `fuzz ${service}: ${report.requests} requests (seed ${SEED}), ${report.serverErrors.length} 5xx; ${statuses}`;
}

/**
 * The two ways a statement fails that are not a bug in the statement: the database cannot be reached
 * (clients should retry: 503 + Retry-After) and a value PostgreSQL cannot store (the caller's input: 400).
 * Kept apart from the drivers so that the HTTP error renderer can name them without loading either.
 */

/** The database did not answer: connection refused or lost, server shutting down or starting up. */
export class DatabaseUnavailable extends Error {
  /** Seconds after which a retry is likely to find the database back (a restart takes a few). */
  readonly retryAfterSeconds: number;
  constructor(cause: unknown, retryAfterSeconds = 2) {
    super('the database is unavailable; retry shortly', { cause });
    this.name = 'DatabaseUnavailable';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A text value PostgreSQL cannot hold (a NUL character), refused before the statement is sent. */
export class UnstorableText extends Error {
  constructor() {
    super('text values must not contain NUL characters');
    this.name = 'UnstorableText';
  }
}

/** SQLSTATE classes and codes meaning "no usable connection", not "bad statement". */
const UNAVAILABLE_SQLSTATE = /^(?:08|57P0[123]|53300)/;
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT',
]);
/** What `pg` says when a connection ends or never comes, without a code. */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/** True when `error` says the database could not be reached, rather than that a statement failed. */
export function isConnectionFailure(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE_CODES.has(code))) {
    return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isConnectionFailure);
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** A JSON text holding an escaped NUL (`\u0000` preceded by an even number of backslashes). */
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/i;

/** Refuses parameters PostgreSQL would reject with a 22021/22P05 error, before anything is sent. */
export function assertStorable(params: readonly unknown[] | undefined): void {
  for (const param of params ?? []) {
    if (typeof param === 'string' && (param.includes('\0') || ESCAPED_NUL.test(param))) {
      throw new UnstorableText();
    }
  }
}

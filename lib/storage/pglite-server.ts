import { chmod, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * One PGlite served over the PostgreSQL protocol on a Unix socket, so the local stack's services share
 * one embedded database through their ordinary `pg` path (each in its own schema). PGlite is a single
 * backend with a single session, so this front makes that session safe to share:
 * - a client holds the session for a whole cycle — from its first message until PGlite is ready for a
 *   query outside a transaction — and the others wait: messages of two clients never interleave;
 * - each connection keeps its own `search_path` (startup `options=-c search_path=…`, as `pg` sends it),
 *   set again whenever the session changes hands;
 * - a client that goes away mid-cycle or inside a transaction has it ended and rolled back; one idle in a
 *   transaction longer than `idleInTransactionMs` is disconnected, as PostgreSQL's
 *   idle_in_transaction_session_timeout would, so it cannot stall the others.
 * Other session state (SET, named prepared statements, LISTEN) would be shared; obkit's storage module
 * uses none of it. (@electric-sql/pglite-socket multiplexes message by message into the one session, so
 * one service's search_path would be every service's; it also pins another PGlite version.)
 */

export interface PgliteServerOptions {
  /** The socket file; its directory should be owner-only (the socket carries no authentication). */
  socketPath: string;
  idleInTransactionMs?: number;
  onError?: (error: Error, context: string) => void;
}

export interface PgliteServer {
  readonly socketPath: string;
  /** Connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const PROTOCOL_3 = 196_608;
const TERMINATE = 0x58; // 'X'
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]); // 'S', length 4

interface Connection {
  socket: Socket;
  buffer: Buffer;
  started: boolean;
  searchPath: string | undefined;
  /** Complete protocol messages waiting for the session, in arrival order. */
  pending: Buffer[];
  closed: boolean;
}

/**
 * PGlite has one session: the connections take turns at it. A connection holds it from its first
 * message until its cycle ends outside a transaction; the others wait their turn in arrival order.
 */
class SharedSession {
  readonly #db: PGlite;
  readonly #idleInTransactionMs: number;
  readonly #report: (error: Error, message: string) => void;
  readonly open = new Set<Connection>();
  readonly #waiting: Connection[] = [];
  #holder: Connection | undefined;
  /** The holder's cycle is incomplete (no ReadyForQuery yet) or it is inside a transaction. */
  #holderStatus: 'cycle' | 'transaction' | undefined;
  #sessionSearchPath: string | undefined;
  #running = false;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(db: PGlite, options: PgliteServerOptions) {
    this.#db = db;
    this.#idleInTransactionMs = options.idleInTransactionMs ?? 30_000;
    this.#report = options.onError ?? (() => {});
  }

  accept(socket: Socket): void {
    const connection: Connection = {
      socket,
      buffer: Buffer.alloc(0),
      started: false,
      searchPath: undefined,
      pending: [],
      closed: false,
    };
    this.open.add(connection);
    socket.on('data', (chunk) => this.#onData(connection, chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      connection.closed = true;
      this.open.delete(connection);
      const index = this.#waiting.indexOf(connection);
      if (index >= 0) this.#waiting.splice(index, 1);
      void this.#run();
    });
  }

  close(): void {
    clearTimeout(this.#idleTimer);
    for (const connection of this.open) connection.socket.destroy();
  }

  #onData(connection: Connection, chunk: Buffer): void {
    connection.buffer = connection.buffer.length ? Buffer.concat([connection.buffer, chunk]) : chunk;
    if (!connection.started && !readStartup(connection)) return;
    const { messages, terminate, rest } = splitMessages(connection.buffer);
    connection.buffer = rest;
    if (messages.length) connection.pending.push(messages);
    if (connection.pending.length && this.#holder !== connection && !this.#waiting.includes(connection))
      this.#waiting.push(connection);
    if (terminate) connection.socket.end();
    void this.#run();
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        if (this.#holder?.closed) await this.#release(this.#holder);
        const next = this.#holder ?? this.#waiting.find((connection) => connection.pending.length > 0);
        if (!next?.pending.length) break;
        clearTimeout(this.#idleTimer);
        await this.#serve(next);
      }
      const idle = this.#holder;
      if (idle && this.#holderStatus === 'transaction') {
        this.#idleTimer = setTimeout(() => idle.socket.destroy(), this.#idleInTransactionMs);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Hands `next` the session (if it does not hold it yet) and runs its pending messages. */
  async #serve(next: Connection): Promise<void> {
    // The startup packet (untyped, so its first byte is 0) must go to PGlite on its own.
    const startup = next.pending[0]![0] === 0;
    if (!this.#holder) {
      this.#holder = next;
      this.#waiting.splice(this.#waiting.indexOf(next), 1);
      if (!startup) await this.#useSearchPath(next.searchPath);
    }
    const input = startup ? next.pending.shift()! : Buffer.concat(next.pending.splice(0));
    if (startup) this.#sessionSearchPath = undefined;
    let output: Uint8Array;
    try {
      output = await this.#db.execProtocolRaw(input, { syncToFs: false });
    } catch (error) {
      this.#report(error as Error, 'query failed in PGlite');
      next.socket.destroy();
      next.closed = true;
      return;
    }
    if (!next.closed && output.length) next.socket.write(output);
    this.#holderStatus = cycleStatus(output, this.#holderStatus);
    if (this.#holderStatus === undefined) this.#holder = undefined;
  }

  async #useSearchPath(searchPath: string | undefined): Promise<void> {
    const wanted = searchPath ?? 'public';
    if (wanted === this.#sessionSearchPath) return;
    await this.#db.query("SELECT set_config('search_path', $1, false)", [wanted]);
    this.#sessionSearchPath = wanted;
  }

  /** Ends what a departed holder left open, so the next client starts from a clean session. */
  async #release(connection: Connection): Promise<void> {
    if (this.#holderStatus) {
      try {
        await this.#db.execProtocolRaw(SYNC, { syncToFs: false });
        if (this.#db.isInTransaction()) await this.#db.exec('ROLLBACK');
      } catch (error) {
        this.#report(error as Error, 'could not roll back after a client left');
      }
    }
    if (this.#holder === connection) {
      this.#holder = undefined;
      this.#holderStatus = undefined;
    }
  }
}

export async function servePglite(db: PGlite, options: PgliteServerOptions): Promise<PgliteServer> {
  const session = new SharedSession(db, options);
  const server = createServer((socket) => session.accept(socket));
  // The lock of `obkit up` makes this process the socket's only owner: a file left by a crash is stale.
  await rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(options.socketPath, 0o600);

  return {
    socketPath: options.socketPath,
    get connections() {
      return session.open.size;
    },
    async close() {
      session.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Handles the untyped packets that open a connection (SSL/GSS requests are declined: the socket is
 * local and owner-only) and queues the startup packet itself, whose answer comes from PGlite.
 * Returns true once the connection is started.
 */
function readStartup(connection: Connection): boolean {
  for (;;) {
    const { buffer } = connection;
    if (buffer.length < 8) return false;
    const length = buffer.readInt32BE(0);
    const code = buffer.readInt32BE(4);
    if (buffer.length < length) return false;
    connection.buffer = buffer.subarray(length);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      connection.socket.write('N');
      continue;
    }
    if (code !== PROTOCOL_3) {
      // A cancel request (PGlite has no backend to signal) or an unknown protocol.
      connection.socket.destroy();
      return false;
    }
    const packet = buffer.subarray(0, length);
    connection.searchPath = startupSearchPath(packet);
    connection.pending.push(packet);
    connection.started = true;
    return true;
  }
}

/** `search_path` from the startup parameters: `options=-c search_path=x` or a `search_path` parameter. */
function startupSearchPath(packet: Buffer): string | undefined {
  const fields = packet.subarray(8).toString('utf8').split('\0');
  const parameters = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length && fields[i]; i += 2) parameters.set(fields[i]!, fields[i + 1]!);
  const fromOptions = /(?:^|\s)(?:-c\s*|--)search_path=(\S+)/.exec(parameters.get('options') ?? '');
  return fromOptions?.[1] ?? parameters.get('search_path');
}

/** Complete typed messages at the front of `buffer` (up to a Terminate, which is not passed on). */
function splitMessages(buffer: Buffer): { messages: Buffer; terminate: boolean; rest: Buffer } {
  let offset = 0;
  while (buffer.length - offset >= 5) {
    if (buffer[offset] === TERMINATE) {
      return { messages: buffer.subarray(0, offset), terminate: true, rest: Buffer.alloc(0) };
    }
    const size = 1 + buffer.readInt32BE(offset + 1);
    if (buffer.length - offset < size) break;
    offset += size;
  }
  return { messages: buffer.subarray(0, offset), terminate: false, rest: buffer.subarray(offset) };
}

/**
 * Where the holder stands after PGlite's answer: a cycle ends with ReadyForQuery ('Z', length 5,
 * status), idle ('I') releasing the session, in a transaction ('T') or a failed one ('E') keeping it.
 */
function cycleStatus(
  output: Uint8Array,
  previous: 'cycle' | 'transaction' | undefined,
): 'cycle' | 'transaction' | undefined {
  const at = output.length - 6;
  const endsCycle =
    at >= 0 &&
    output[at] === 0x5a &&
    new DataView(output.buffer, output.byteOffset + at + 1, 4).getInt32(0) === 5;
  if (!endsCycle) return previous === 'transaction' ? 'transaction' : 'cycle';
  return output[at + 5] === 0x49 ? undefined : 'transaction';
}

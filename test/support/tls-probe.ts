import tls from 'node:tls';

/**
 * A TLS client as an accreditation probe uses one: it offers exactly the protocol versions and suites it
 * is given and reports what the server chose, or the handshake error. Node's TLS is OpenSSL's, so this
 * is what `openssl s_client -tls1_2 -cipher …` sees.
 */

/** TLS 1.2 suites outside the FAPI profile that OpenSSL offers by default (ECDSA, CBC, ChaCha20, plain RSA). */
export const NON_FAPI_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA',
  'AES128-GCM-SHA256',
  'AES256-SHA256',
] as const;

export interface ProbeOptions {
  host?: string;
  ca?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list for TLS ≤ 1.2. */
  ciphers?: string;
}

export interface Handshake {
  protocol: string | null;
  cipher: string;
}

function connect(port: number, options: ProbeOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      port,
      host: options.host ?? '127.0.0.1',
      servername: 'localhost',
      ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
      ...(options.minVersion ? { minVersion: options.minVersion } : {}),
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      ...(options.ciphers ? { ciphers: options.ciphers } : {}),
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Completes a handshake with the given offer, or rejects with the handshake error. */
export async function handshake(port: number, options: ProbeOptions): Promise<Handshake> {
  const socket = await connect(port, options);
  const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
  socket.destroy();
  return result;
}

/**
 * Starts a TLS 1.2 connection and asks for a renegotiation, as `openssl s_client` does on `R`. Resolves
 * with the error the server answered it with, or `undefined` if it renegotiated.
 */
export async function renegotiate(port: number, options: ProbeOptions = {}): Promise<Error | undefined> {
  const socket = await connect(port, { ...options, maxVersion: 'TLSv1.2' });
  return new Promise((resolve) => {
    const done = (error: Error | undefined) => {
      socket.destroy();
      resolve(error);
    };
    socket.once('error', done);
    socket.once('close', () => done(new Error('the server closed the connection')));
    socket.renegotiate({ rejectUnauthorized: false }, (error) => done(error ?? undefined));
  });
}

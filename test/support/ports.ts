import { once } from 'node:events';
import { createServer } from 'node:net';
import { COMPONENTS, MANAGEMENT_PORT_OFFSET } from '../../lib/config/components.ts';

/** A port free on 127.0.0.1 now (tests never take the default ports). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * N such that N..N+4 and the management ports N+100..N+104 are free, for `obkit up --base-port N`.
 * Taken below Linux's ephemeral range (32768+), where the source port of some other process's
 * connection could take one of them between this check and the service's bind.
 */
export async function freeBasePort(): Promise<number> {
  const offsets = Object.values(COMPONENTS).flatMap(({ basePortOffset }) => [
    basePortOffset,
    basePortOffset + MANAGEMENT_PORT_OFFSET,
  ]);
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await Promise.all(offsets.map((offset) => isFree(base + offset)));
    if (free.every(Boolean)) return base;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer().once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

import type { Etcd3 } from 'etcd3';
import { Registry, type InvalidValue, type RegistryOptions } from '../../lib/registry/index.js';
import type { RegistryStream, StreamEvent } from '../../lib/registry/stream.js';

export const BODY = '[Unit]\nDescription=hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';

export function body(n: number | string): string {
  return `[Unit]\nDescription=unit ${n}\n\n[Service]\nExecStart=/bin/sleep ${String(n).length + 1000}\n`;
}

/** A registry on the fixture's prefix that collects invalid-value reports. */
export function registry(
  client: Etcd3,
  prefix: string,
  opts: RegistryOptions = {},
): { reg: Registry; invalid: InvalidValue[] } {
  const invalid: InvalidValue[] = [];
  const reg = new Registry(client, { prefix, ...opts });
  reg.on('invalid', (r) => invalid.push(r));
  return { reg, invalid };
}

export async function caught(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** Records a stream's events as "put <id> <rev>" / "delete <id>" lines. */
export function record<T>(stream: RegistryStream<T>): StreamEvent<T>[] {
  const events: StreamEvent<T>[] = [];
  stream.on('put', (e) => events.push(e));
  stream.on('delete', (e) => events.push(e));
  return events;
}

export async function until(cond: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A backoff the test opens: retries wait until open() is called. */
export function gate(): {
  backoff: (attempt: number, signal: AbortSignal) => Promise<void>;
  open(): void;
  waiting(): number;
} {
  let release: (() => void) | undefined;
  let blocked: Promise<void> = new Promise((r) => (release = r));
  let waiting = 0;
  let opened = false;
  return {
    backoff: async (_attempt, signal) => {
      if (opened) return;
      waiting++;
      await Promise.race([blocked, new Promise((r) => signal.addEventListener('abort', r, { once: true }))]);
      waiting--;
    },
    open() {
      opened = true;
      release?.();
      blocked = Promise.resolve();
    },
    waiting: () => waiting,
  };
}

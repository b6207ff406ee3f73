/**
 * A real NOTIFY_SOCKET for tests: a unix datagram socket bound by a small python3 process (Node
 * cannot bind one), printing each datagram it receives as one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

export interface NotifySocket {
  path: string;
  messages: string[];
  /** Waits until a message containing `text` arrived (after the first `after` messages). */
  waitFor(text: string, after?: number, timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

export async function notifySocket(path: string): Promise<NotifySocket> {
  const proc: ChildProcess = spawn(PYTHON, ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buf = '';
  let bound!: () => void;
  const isBound = new Promise<void>((r) => (bound = r));
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
    }
  });
  await Promise.race([
    isBound,
    new Promise((_, reject) =>
      proc.once('exit', () => reject(new Error(`${PYTHON} could not bind ${path}`))),
    ),
  ]);
  return {
    path,
    messages,
    async waitFor(text, after = 0, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = messages.findIndex((m, n) => n >= after && m.includes(text));
        if (i >= 0) return i;
        if (Date.now() > deadline)
          throw new Error(`no notification with ${text}; got ${JSON.stringify(messages)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((r) => {
        if (proc.exitCode !== null) return r();
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

/**
 * fleetd as a process: started from bin/fleetd.js against the run's etcd, serving on a unix socket,
 * reloading on SIGHUP without dropping its listener, stopping on SIGTERM; and socket activation:
 * a listening socket inherited as fd 3 (LISTEN_PID/LISTEN_FDS), and systemd's own
 * systemd-socket-activate starting fleetd on the first connection.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEtcd } from '../fixtures/etcd.js';
import { notifySocket } from './notify-socket.js';
import { addMachine, call } from './helpers.js';
import { freePort } from '../../lab/etcd-server.js';
import { Registry } from '../../lib/registry/registry.js';

interface Child {
  proc: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

function watch(proc: ChildProcess): Child {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  proc.stderr?.on('data', onData);
  proc.stdout?.on('data', onData);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    lines,
    exited,
    waitFor(re, timeoutMs = 15000) {
      const had = lines.find((l) => re.test(l));
      if (had) return Promise.resolve(had);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got:\n${lines.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

function get(
  target: { socketPath: string } | { port: number },
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, host: '127.0.0.1', path, method: 'GET', headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('fleetd (the process)', function () {
  this.timeout(40000);
  const etcd = useEtcd();
  let dir: string;
  let children: ChildProcess[] = [];
  let servers: Server[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetd-test-'));
  });
  afterEach(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('exit', r));
      }
    }
    children = [];
    for (const s of servers) s.close();
    servers = [];
    rmSync(dir, { recursive: true, force: true });
  });

  const baseEnv = () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env))
      if (k.startsWith('FLEET_') || k.startsWith('LISTEN_') || k === 'NOTIFY_SOCKET') delete env[k];
    // This host has no systemd of its own: fleetd runs as an API/engine-only node here (its agent
    // is tested on fleet-lab machines, test/fleetd/lab.test.ts and test/agent/).
    env.FLEET_DISABLE_AGENT = 'true';
    return env;
  };

  it('serves on its unix socket, reloads on SIGHUP keeping the listener, stops on SIGTERM', async () => {
    const sock = join(dir, 'fleet.sock');
    const conf = join(dir, 'fleet.conf');
    writeFileSync(
      conf,
      `etcd_servers=${etcd.endpoint}\netcd_key_prefix=${etcd.prefix}\napi_unix_socket=${sock}\n`,
    );
    const c = watch(
      spawn(process.execPath, ['bin/fleetd.js', '--config', conf], {
        env: baseEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    children.push(c.proc);
    await c.waitFor(/ info fleetd: ready /);
    expect(c.lines.some((l) => l.includes(`API listening on="unix ${sock}"`))).to.equal(true);
    const r = await get({ socketPath: sock }, '/fleet/v1/units');
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.body)).to.deep.equal({ units: [] });
    expect(await etcd.client.get(`${etcd.prefix}schema`).string()).to.equal('{"version":1}');

    writeFileSync(
      conf,
      `etcd_servers=${etcd.endpoint}\netcd_key_prefix=${etcd.prefix}\napi_unix_socket=${sock}\nverbosity=1\nmetadata=region=eu\ntoken_limit=7\n`,
    );
    c.proc.kill('SIGHUP');
    await c.waitFor(/configuration reloaded verbosity=1 metadata=.*region.*eu/);
    const after = await get({ socketPath: sock }, '/fleet/v1/units?nextPageToken=BwABAA==');
    expect(after.status, after.body).to.equal(200); // the reloaded token_limit (7) is in force
    await c.waitFor(/ debug fleetd\/api: http method=GET/); // verbosity 1 now logs requests

    // a broken configuration is refused; fleetd goes on with the previous one
    writeFileSync(conf, 'agent_ttl=nonsense\n');
    c.proc.kill('SIGHUP');
    await c.waitFor(/reload failed; still running with the previous configuration/);
    expect((await get({ socketPath: sock }, '/fleet/v1/machines')).status).to.equal(200);

    c.proc.kill('SIGTERM');
    expect(await c.exited).to.equal(0);
    expect(c.lines.some((l) => l.includes('received SIGTERM, stopping'))).to.equal(true);
    expect(existsSync(sock)).to.equal(false);
  });

  it('runs an engine candidate: a unit PUT through its API is placed on the machine its metadata asks for', async () => {
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await reg.checkSchema();
    await addMachine(etcd.client, reg, 'aaaa1111', { metadata: { region: 'us' } });
    await addMachine(etcd.client, reg, 'bbbb2222', { metadata: { region: 'eu' } });
    const port = await freePort();
    const c = watch(
      spawn(
        process.execPath,
        [
          'bin/fleetd.js',
          '--etcd-servers',
          etcd.endpoint,
          '--etcd-key-prefix',
          etcd.prefix,
          '--api-unix-socket',
          join(dir, 'fleet.sock'),
          '--api-tcp-address',
          `127.0.0.1:${port}`,
          '--engine-lease-ttl',
          '2',
        ],
        { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    children.push(c.proc);
    await c.waitFor(/is the leader/);
    const base = `http://127.0.0.1:${port}`;
    const put = await call(base, 'PUT', '/fleet/v1/units/web.service', {
      desiredState: 'launched',
      options: [
        { section: 'Service', name: 'ExecStart', value: '/bin/sleep 1000' },
        { section: 'X-Fleet', name: 'MachineMetadata', value: 'region=eu' },
      ],
    });
    expect(put.status, put.text).to.equal(201);
    let machineID: unknown;
    for (let i = 0; i < 100 && !machineID; i++) {
      const got = await call(base, 'GET', '/fleet/v1/units/web.service');
      machineID = (got.json as { machineID?: string }).machineID;
      if (!machineID) await new Promise((r) => setTimeout(r, 50));
    }
    expect(machineID).to.equal('bbbb2222');
    c.proc.kill('SIGTERM');
    expect(await c.exited).to.equal(0);
  });

  it('tells systemd READY=1 once serving, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM', async () => {
    const notify = await notifySocket(join(dir, 'notify'));
    try {
      const sock = join(dir, 'fleet.sock');
      const c = watch(
        spawn(
          process.execPath,
          [
            'bin/fleetd.js',
            '--etcd-servers',
            etcd.endpoint,
            '--etcd-key-prefix',
            etcd.prefix,
            '--api-unix-socket',
            sock,
          ],
          {
            env: { ...baseEnv(), NOTIFY_SOCKET: notify.path },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        ),
      );
      children.push(c.proc);
      const ready = await notify.waitFor('READY=1');
      expect(notify.messages[ready]).to.contain(`MAINPID=${c.proc.pid}`);
      // READY means serving: the API answers at once
      expect((await get({ socketPath: sock }, '/fleet/v1/machines')).status).to.equal(200);
      c.proc.kill('SIGHUP');
      const reloading = await notify.waitFor('RELOADING=1', ready + 1);
      await notify.waitFor('READY=1', reloading + 1);
      c.proc.kill('SIGTERM');
      await notify.waitFor('STOPPING=1', reloading + 1);
      expect(await c.exited).to.equal(0);
    } finally {
      await notify.close();
    }
  });

  it('refuses to start on a bad configuration or an unreachable etcd, saying why (exit 1)', async () => {
    const bad = watch(
      spawn(process.execPath, ['bin/fleetd.js', '--agent-ttl', 'soon'], {
        env: baseEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    children.push(bad.proc);
    expect(await bad.exited).to.equal(1);
    expect(bad.lines.join('\n')).to.contain('flag --agent-ttl: agent_ttl="soon" is not allowed');
    const down = watch(
      spawn(
        process.execPath,
        ['bin/fleetd.js', '--etcd-servers', 'http://127.0.0.1:9', '--api-unix-socket', join(dir, 's.sock')],
        {
          env: baseEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    children.push(down.proc);
    expect(await down.exited).to.equal(1);
    expect(down.lines.join('\n')).to.match(/cannot start: .*127\.0\.0\.1:9/);
    expect(existsSync(join(dir, 's.sock'))).to.equal(false);
  });

  it('serves a TCP socket inherited as fd 3 (LISTEN_PID/LISTEN_FDS), answering a connection made before it started', async () => {
    const listening = createServer();
    servers.push(listening);
    await new Promise<void>((r) => listening.listen(0, '127.0.0.1', r));
    const port = (listening.address() as AddressInfo).port;
    const fd = (listening as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fd).to.be.greaterThan(2);
    // connect first: the kernel queues it until fleetd accepts
    const early = get({ port }, '/fleet/v1/discovery');
    const c = watch(
      spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" bin/fleetd.js', process.execPath], {
        env: {
          ...baseEnv(),
          LISTEN_FDS: '1',
          LISTEN_FDNAMES: 'fleet.socket',
          FLEET_ETCD_SERVERS: etcd.endpoint,
          FLEET_ETCD_KEY_PREFIX: etcd.prefix,
          FLEET_API_UNIX_SOCKET: join(dir, 'unused.sock'),
        },
        stdio: ['ignore', 'pipe', 'pipe', fd],
      }),
    );
    children.push(c.proc);
    listening.close(); // the child holds its own copy
    const r = await early;
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.body)).to.have.property('kind', 'discovery#restDescription');
    await c.waitFor(/API listening on="fd 3 \(fleet.socket\)"/);
    expect(existsSync(join(dir, 'unused.sock')), 'no socket of its own when one is passed').to.equal(false);
    c.proc.kill('SIGTERM');
    expect(await c.exited).to.equal(0);
  });

  it("is started by systemd's socket activation on the first connection (systemd-socket-activate)", async function () {
    if (!existsSync('/usr/bin/systemd-socket-activate')) {
      // Note: systemd's tool is part of the systemd package, which fleet-lab needs anyway.
      this.skip();
    }
    const sock = join(dir, 'fleet.sock');
    const c = watch(
      spawn(
        '/usr/bin/systemd-socket-activate',
        // systemd-socket-activate passes no environment on: settings go as flags
        [
          '-l',
          sock,
          '--fdname=fleet.socket',
          process.execPath,
          'bin/fleetd.js',
          '--etcd-servers',
          etcd.endpoint,
          '--etcd-key-prefix',
          etcd.prefix,
          '--disable-agent=true',
        ],
        { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    children.push(c.proc);
    await c.waitFor(/Listening on/);
    // fleetd is not running yet: this connection starts it
    const r = await get({ socketPath: sock }, '/fleet/v1/units').catch((e: Error) => {
      throw new Error(`${e.message}; fleetd said:\n${c.lines.join('\n')}`);
    });
    expect(r.status).to.equal(200);
    await c.waitFor(/API listening on="fd 3 \(fleet.socket\)"/);
    c.proc.kill('SIGTERM');
    expect(await c.exited).to.equal(0);
  });
});

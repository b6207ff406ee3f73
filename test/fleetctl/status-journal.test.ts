/**
 * fleetctl status / journal as subprocesses, with both drivers, on a real etcd and two real fleetd
 * API servers: "front" (machine M1, on a unix socket, as fleetctl's local fleetd) and "peer"
 * (machine M2, the unit's machine, on a mutual-TLS listener opened by fleetd/listeners.ts, with
 * certificates made by fleet-lab's certs.ts). The unit runs on M2, so --driver=api goes through
 * front's forwarding over mutual TLS and --driver=etcd dials M2's advertised endpoint directly.
 * No systemd runs on this host: the servers run a stand-in for systemctl/journalctl (a real child
 * process each, so that a followed journal's process is seen to end). Real systemd: the lab test
 * test/cluster/fleetctl-lab.test.ts.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PeerAccess } from '../../fleetd/api/peer.js';
import { createApi, type Api } from '../../fleetd/api/server.js';
import { openListeners, type Listeners } from '../../fleetd/listeners.js';
import { makeLabTls, type LabTls } from '../../lab/certs.js';
import { Registry } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { etcdArgs, run, StandInCluster } from './harness.js';

const M1 = '1a2b3c4d5e6f708192a3b4c5d6e7f809';
const M2 = '2b3c4d5e6f708192a3b4c5d6e7f8091a';
const M3 = '3c4d5e6f708192a3b4c5d6e7f8091a2b';
const HELLO = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n';

interface Ran {
  machine: string;
  argv: string[];
  child: ChildProcess;
}

/** systemctl/journalctl stand-ins: real node processes printing what they were asked. */
function standIn(machine: string, ran: Ran[]) {
  return (argv: readonly string[]): ChildProcess => {
    const follow = argv.includes('--follow');
    const script =
      argv[0] === 'systemctl'
        ? `process.stdout.write('● ' + process.argv.at(-1) + ' - stand-in on ${machine}\\n', () => process.exit(3))`
        : follow
          ? `console.log('journal of ${machine}'); setInterval(() => console.log('tick'), 50)`
          : `console.log('journal of ${machine}: ' + process.argv.slice(1).join(' '))`;
    const child = spawn(process.execPath, ['-e', script, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    ran.push({ machine, argv: [...argv], child });
    return child;
  };
}

const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function get(socketPath: string | undefined, port: number | undefined, path: string) {
  return new Promise<{ status: number; body: string }>((ok, ko) => {
    const req = request(
      { ...(socketPath ? { socketPath } : { host: '127.0.0.1', port }), path, method: 'GET' },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', ko);
    req.end();
  });
}

describe('fleetctl status and journal (subprocess; real etcd; fleetd API forwarding over mutual TLS)', function () {
  this.timeout(60000);
  const etcd = useEtcd();
  let dir: string;
  let tls: LabTls;
  let ran: Ran[];
  let cluster: StandInCluster;
  let front: Api;
  let peer: Api;
  let frontServer: Server;
  let plainServer: Server;
  let peerListeners: Listeners;
  let frontSock: string;
  let plainPort: number;

  before(async function () {
    this.timeout(30000);
    dir = mkdtempSync(join(tmpdir(), 'fleetctl-status-'));
    tls = await makeLabTls(dir, 'status-test', [
      { name: 'front', ip: '127.0.0.1' },
      { name: 'peer', ip: '127.0.0.1' },
    ]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    ran = [];
    const reg = () => new Registry(etcd.client, { prefix: etcd.prefix });
    peer = createApi({ registry: reg(), machineId: M2, runUnitCommand: standIn(M2, ran) });
    peerListeners = await openListeners(
      {
        apiUnixSocket: undefined,
        apiTcpAddress: { host: '127.0.0.1', port: 0 },
        apiTlsCertFile: join(tls.dir, 'peer.pem'),
        apiTlsKeyFile: join(tls.dir, 'peer-key.pem'),
        apiTlsCaFile: tls.ca,
      },
      peer.handle,
      { env: {} },
    );
    const peerPort = (peerListeners.list[0]!.server.address() as AddressInfo).port;
    front = createApi({
      registry: reg(),
      machineId: M1,
      runUnitCommand: standIn(M1, ran),
      peers: {
        tls: {
          cert: readFileSync(join(tls.dir, 'front.pem')),
          key: readFileSync(join(tls.dir, 'front-key.pem')),
          ca: readFileSync(tls.ca),
        },
        timeoutMs: 5000,
      },
    });
    frontServer = createServer(front.handle);
    frontSock = join(dir, `front-${process.pid}.sock`);
    await new Promise<void>((ok) => frontServer.listen(frontSock, ok));
    plainServer = createServer(front.handle);
    await new Promise<void>((ok) => plainServer.listen(0, '127.0.0.1', ok));
    plainPort = (plainServer.address() as AddressInfo).port;

    cluster = new StandInCluster(etcd.client, etcd.prefix);
    // The stand-in engine places every unit on the first machine: M2, the peer.
    await cluster.addMachine(M2, '127.0.0.1', {}, { apiEndpoint: `https://127.0.0.1:${peerPort}` });
    await cluster.addMachine(M1, '127.0.0.2');
    await reg().submitUnit({ name: 'hello.service', body: HELLO, desiredState: 'launched' });
    await reg().submitUnit({ name: 'idle.service', body: HELLO });
    await cluster.step();
  });

  afterEach(async () => {
    await cluster.stop();
    for (const s of [frontServer, plainServer]) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
    await peerListeners.close();
    await front.close();
    await peer.close();
    rmSync(frontSock, { force: true });
    for (const r of ran) if (alive(r.child.pid) && r.child.exitCode === null) r.child.kill('SIGKILL');
  });

  const apiArgs = () => [`--endpoint=unix://${frontSock}`];
  const tlsArgs = () => [
    `--ca-file=${tls.ca}`,
    `--cert-file=${tls.clientCert}`,
    `--key-file=${tls.clientKey}`,
  ];
  const etcdDriver = () => [...etcdArgs(etcd.endpoint, etcd.prefix), ...tlsArgs()];

  for (const kind of ['api', 'etcd'] as const) {
    const args = () => (kind === 'api' ? apiArgs() : etcdDriver());

    it(`--driver=${kind}: status runs systemctl status on the unit's machine (M2), no shell`, async () => {
      const r = await run([...args(), 'status', 'hello']);
      expect(r.stderr).to.equal('');
      expect(r.stdout).to.equal(`● hello.service - stand-in on ${M2}\n`);
      expect(r.status).to.equal(0); // systemctl's 3 (not running) is still a status
      expect(ran.map((x) => [x.machine, x.argv])).to.deep.equal([
        [M2, ['systemctl', 'status', '--no-pager', '--full', '-n', '10', '--', 'hello.service']],
      ]);
    });

    it(`--driver=${kind}: journal --lines N prints the unit's journal from M2`, async () => {
      const r = await run([...args(), 'journal', '--lines', '5', 'hello.service']);
      expect(r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      expect(r.stdout).to.equal(`journal of ${M2}: journalctl --unit=hello.service --lines 5 --no-pager\n`);
    });

    it(`--driver=${kind}: journal -f streams until fleetctl ends, then the journal process on M2 ends`, async () => {
      const child = spawn(
        process.execPath,
        [resolve('bin/fleetctl.js'), ...args(), 'journal', '-f', 'hello'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      try {
        await until(() => (out.match(/tick/g) ?? []).length >= 3, 'three followed lines');
        expect(out.startsWith(`journal of ${M2}\n`)).to.equal(true);
        const journal = ran.find((x) => x.argv.includes('--follow'));
        expect(journal?.machine).to.equal(M2);
        expect(journal?.argv).to.deep.equal([
          'journalctl',
          '--unit=hello.service',
          '--lines',
          '10',
          '--no-pager',
          '--follow',
        ]);
        expect(alive(journal!.child.pid)).to.equal(true);
        child.kill('SIGTERM');
        await until(() => !alive(journal!.child.pid), `journalctl stand-in PID ${journal!.child.pid} to end`);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });

    it(`--driver=${kind}: a unit that is not placed: one sentence naming it, exit 1`, async () => {
      const r = await run([...args(), 'status', 'idle.service']);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.contain(
        'unit idle.service is not scheduled on any machine; start or load it first',
      );
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      const none = await run([...args(), 'journal', 'nope.service']);
      expect(none.status).to.equal(1);
      expect(none.stderr).to.contain('nope.service');
      expect(ran).to.have.length(0);
    });

    it(`--driver=${kind}: an invalid unit name is refused before anything is asked (exit 2)`, async () => {
      const r = await run([...args(), 'status', 'bad name.service']);
      expect(r.status).to.equal(2);
      expect(r.stderr).to.contain('"bad name.service" is not a unit name');
      expect(ran).to.have.length(0);
    });
  }

  it('journal -f | head: when the reader goes away, fleetctl exits 0 and the journal process ends', async () => {
    const child = spawn(
      process.execPath,
      [resolve('bin/fleetctl.js'), ...apiArgs(), 'journal', '-f', 'hello'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
    try {
      await until(() => out.includes('tick'), 'a followed line');
      const journal = ran.find((x) => x.argv.includes('--follow'))!;
      child.stdout.destroy(); // as `| head` does once it has its lines
      expect(await exited).to.equal(0);
      expect(err).to.equal('');
      await until(() => !alive(journal.child.pid), `journalctl stand-in PID ${journal.child.pid} to end`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--driver=etcd without a client certificate: says which flags, names unit and machine, exit 1', async () => {
    const r = await run([...etcdArgs(etcd.endpoint, etcd.prefix), `--ca-file=${tls.ca}`, 'status', 'hello']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`cannot reach the fleetd of machine ${M2}`);
    expect(r.stderr).to.contain('(for unit hello.service)');
    expect(r.stderr).to.contain('--cert-file and --key-file');
    expect(ran).to.have.length(0);
  });

  it('--driver=etcd: a machine that advertises no API endpoint is named, with what to do', async () => {
    await cluster.stop();
    cluster = new StandInCluster(etcd.client, etcd.prefix);
    await cluster.addMachine(M3, '10.0.0.3'); // no apiEndpoint; placed on it from now on
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    await reg.submitUnit({ name: 'other.service', body: HELLO, desiredState: 'launched' });
    await cluster.step();
    const r = await run([...etcdDriver(), 'status', 'other.service']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(
      `unit other.service runs on machine ${M3} (10.0.0.3), whose fleetd advertises no API endpoint; set api_tcp_address and api_tls_* in its fleet.conf`,
    );
  });

  it('the API: plain TCP is refused (403); bad names 400; unknown units 404; forwarding needs TLS (502)', async () => {
    const plain = await get(undefined, plainPort, '/fleet/v1/units/hello.service/status');
    expect(plain.status).to.equal(403);
    expect(plain.body).to.contain('unix socket or a TLS listener');
    const bad = await get(frontSock, undefined, '/fleet/v1/units/a%2Fb.service/journal');
    expect(bad.status).to.equal(400);
    expect(bad.body).to.contain('invalid unit name \\"a/b.service\\"');
    const lines = await get(frontSock, undefined, '/fleet/v1/units/hello.service/journal?lines=-1');
    expect(lines.status).to.equal(400);
    const missing = await get(frontSock, undefined, '/fleet/v1/units/nope.service/status');
    expect(missing.status).to.equal(404);
    expect(ran).to.have.length(0);

    // A fleetd that cannot forward: without peer access, without TLS files, with another CA's.
    const otherDir = mkdtempSync(join(tmpdir(), 'fleetctl-status-ca2-'));
    try {
      const other = await makeLabTls(otherDir, 'other', [{ name: 'stranger', ip: '127.0.0.1' }]);
      const cases: [PeerAccess | undefined, string][] = [
        [undefined, `unit hello.service runs on machine ${M2}, and this fleetd cannot forward to it`],
        [
          { tls: undefined, timeoutMs: 5000 },
          `unit hello.service runs on machine ${M2}, and this fleetd has no client certificate to reach it`,
        ],
        [
          {
            tls: {
              cert: readFileSync(join(other.dir, 'stranger.pem')),
              key: readFileSync(join(other.dir, 'stranger-key.pem')),
              ca: readFileSync(tls.ca),
            },
            timeoutMs: 5000,
          },
          `cannot reach the fleetd of machine ${M2} at https://127.0.0.1:`,
        ],
      ];
      for (const [peers, message] of cases) {
        const lone = createApi({
          registry: new Registry(etcd.client, { prefix: etcd.prefix }),
          machineId: M1,
          ...(peers ? { peers } : {}),
        });
        const s = createServer(lone.handle);
        const sock = join(dir, `lone-${process.pid}.sock`);
        await new Promise<void>((ok) => s.listen(sock, ok));
        try {
          const r = await get(sock, undefined, '/fleet/v1/units/hello.service/status');
          expect(r.status, message).to.equal(502);
          expect(r.body).to.contain(message);
          expect(r.body).to.contain('hello.service');
        } finally {
          s.closeAllConnections();
          await new Promise<void>((ok) => s.close(() => ok()));
          await lone.close();
        }
      }
      expect(ran).to.have.length(0);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});

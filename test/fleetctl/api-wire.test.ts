/**
 * The API driver's wire format (fleet's HTTP API v1), checked against a small recording HTTP server
 * written here: the requests fleetctl sends (method, path, headers, JSON bodies), paging, error
 * bodies, unreachable endpoints and timeouts. The driver is also tested against fleetd's real API
 * server on a real etcd (api-real.test.ts) once that server exists.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiDriver, parseApiEndpoint } from '../../fleetctl/drivers/api.js';
import { DriverError } from '../../fleetctl/driver.js';
import { run } from './harness.js';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
}

type Handler = (req: Seen) => { status: number; body?: unknown; delayMs?: number };

async function serve(handler: Handler, where: { socket?: string } = {}) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const s: Seen = {
        method: req.method!,
        url: req.url!,
        contentType: req.headers['content-type'],
        body: text ? JSON.parse(text) : undefined,
      };
      seen.push(s);
      const r = handler(s);
      const send = () => {
        if (r.body === undefined) {
          res.writeHead(r.status).end();
          return;
        }
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
      };
      if (r.delayMs) setTimeout(send, r.delayMs);
      else send();
    });
  });
  await new Promise<void>((ok) =>
    where.socket ? server.listen(where.socket, ok) : server.listen(0, '127.0.0.1', ok),
  );
  const addr = server.address();
  const endpoint = where.socket
    ? `unix://${where.socket}`
    : `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    seen,
    endpoint,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

const OPTS = [
  { section: 'Unit', name: 'Description', value: 'Hello' },
  { section: 'Service', name: 'ExecStart', value: '/bin/sleep 1000' },
];
const wireUnit = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  options: OPTS,
  desiredState: 'launched',
  currentState: 'launched',
  machineID: 'm1',
  ...over,
});

describe('fleetctl API driver: fleet API v1 wire format', function () {
  this.timeout(20000);
  let dir: string;
  let srv: Awaited<ReturnType<typeof serve>> | undefined;
  let driver: ApiDriver | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetctl-api-'));
  });
  afterEach(async () => {
    await driver?.close();
    driver = undefined;
    await srv?.close();
    srv = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (endpoint: string, timeoutMs = 2000) =>
    ApiDriver.open({ kind: 'api', endpoint, etcdKeyPrefix: '/fleet/', requestTimeoutMs: timeoutMs });

  it('parses endpoints as fleet: unix:///path, http(s)://host:port[/prefix]; refuses unix://relative', () => {
    expect(parseApiEndpoint('unix:///var/run/fleet.sock')).to.deep.include({
      socketPath: '/var/run/fleet.sock',
    });
    expect(parseApiEndpoint('http://10.0.0.1:8080')).to.deep.include({
      host: '10.0.0.1',
      port: 8080,
      pathPrefix: '',
    });
    expect(parseApiEndpoint('https://fleet.example/api/')).to.deep.include({
      protocol: 'https:',
      port: 443,
      pathPrefix: '/api',
    });
    expect(() => parseApiEndpoint('unix://var/run/fleet.sock')).to.throw(
      DriverError,
      'write unix:///var/run/fleet.sock',
    );
    expect(() => parseApiEndpoint('ftp://x')).to.throw(DriverError, 'scheme ftp:');
  });

  it('lists units over a unix socket, following nextPageToken', async () => {
    srv = await serve(
      (r) =>
        r.url === '/fleet/v1/units?pageSize=10000'
          ? { status: 200, body: { units: [wireUnit('a.service')], nextPageToken: 'tok 2' } }
          : {
              status: 200,
              body: { units: [wireUnit('b.service', { machineID: '', currentState: 'inactive' })] },
            },
      { socket: join(dir, 'fleet.sock') },
    );
    driver = await open(srv.endpoint);
    const units = await driver.listUnits();
    expect(srv.seen.map((s) => `${s.method} ${s.url}`)).to.deep.equal([
      // fleetd's ?pageSize= extension (fleet's servers ignore it and page as usual)
      'GET /fleet/v1/units?pageSize=10000',
      'GET /fleet/v1/units?pageSize=10000&nextPageToken=tok%202',
    ]);
    expect(units.map((u) => [u.name, u.desiredState, u.currentState, u.machineId])).to.deep.equal([
      ['a.service', 'launched', 'launched', 'm1'],
      ['b.service', 'launched', 'inactive', undefined],
    ]);
    expect(units[0]!.body).to.equal('[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n');
    expect(units[0]!.hash).to.match(/^[0-9a-f]{64}$/);
  });

  it('creates with PUT {name, desiredState: inactive, options} as application/json, only when absent', async () => {
    let exists = false;
    srv = await serve((r) => {
      if (r.method === 'GET')
        return exists
          ? { status: 200, body: wireUnit('a.service') }
          : { status: 404, body: { error: { code: 404, message: 'unit does not exist' } } };
      exists = true;
      return { status: 201 };
    });
    driver = await open(srv.endpoint);
    const first = await driver.submitUnits([
      {
        name: 'a.service',
        body: '[Unit]\nDescription=Hello\n[Service]\nExecStart=/bin/sleep 1000\n',
        desiredState: 'inactive',
      },
    ]);
    expect(first).to.deep.equal({ created: ['a.service'], existing: [] });
    const put = srv.seen.find((s) => s.method === 'PUT')!;
    expect(put.url).to.equal('/fleet/v1/units/a.service');
    expect(put.contentType).to.equal('application/json');
    expect(put.body).to.deep.equal({ name: 'a.service', desiredState: 'inactive', options: OPTS });
    const again = await driver.submitUnits([
      { name: 'a.service', body: '[Service]\nExecStart=/bin/true\n', desiredState: 'launched' },
    ]);
    expect(again).to.deep.equal({ created: [], existing: ['a.service'] });
    expect(srv.seen.filter((s) => s.method === 'PUT')).to.have.length(1);
  });

  it('sets desired states with PUT {name, desiredState}; destroys with DELETE; 404 is UNIT_NOT_FOUND', async () => {
    srv = await serve((r) =>
      r.url.endsWith('ghost.service')
        ? { status: 404, body: { error: { code: 404, message: 'unit does not exist' } } }
        : { status: 204 },
    );
    driver = await open(srv.endpoint);
    await driver.setDesiredState('web@1.service', 'launched');
    await driver.destroyUnit('web@1.service');
    expect(srv.seen.map((s) => [s.method, s.url, s.body])).to.deep.equal([
      ['PUT', '/fleet/v1/units/web%401.service', { name: 'web@1.service', desiredState: 'launched' }],
      ['DELETE', '/fleet/v1/units/web%401.service', undefined],
    ]);
    expect(await driver.getUnit('ghost.service')).to.equal(undefined);
    const e = await driver.destroyUnit('ghost.service').catch((x: unknown) => x);
    expect(e).to.be.instanceOf(DriverError).with.property('code', 'UNIT_NOT_FOUND');
  });

  it('batches: one PUT or DELETE per unit, at most 16 in flight; a 404 names the missing units', async () => {
    let inFlight = 0;
    let most = 0;
    srv = await serve((r) => {
      // Answered after 20 ms; counted out just before the answer (the earlier timer fires first).
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => inFlight--, 20);
      return r.url.endsWith('ghost.service')
        ? { status: 404, body: { error: { code: 404, message: 'unit does not exist' } }, delayMs: 20 }
        : { status: 204, delayMs: 20 };
    });
    driver = await open(srv.endpoint);
    const names = Array.from({ length: 40 }, (_, i) => `web@${i}.service`);
    const e = await driver
      .setDesiredStates([...names, 'ghost.service'].map((name) => ({ name, state: 'loaded' as const })))
      .catch((x: unknown) => x);
    expect(e).to.be.instanceOf(DriverError).with.property('code', 'UNIT_NOT_FOUND');
    expect((e as Error).message).to.contain('ghost.service');
    expect(srv.seen.filter((s) => s.method === 'PUT')).to.have.length(41);
    const d = await driver.destroyUnits([...names, 'ghost.service']);
    expect(d.destroyed).to.have.members(names);
    expect(d.missing).to.deep.equal(['ghost.service']);
    expect(srv.seen.filter((s) => s.method === 'DELETE')).to.have.length(41);
    expect(most).to.be.at.most(16).and.at.least(2);
  });

  it("reports the server's error body {error:{code,message}} naming what was refused", async () => {
    srv = await serve(() => ({
      status: 400,
      body: { error: { code: 400, message: 'cannot activate template "web@.service"' } },
    }));
    driver = await open(srv.endpoint);
    const e = (await driver
      .setDesiredState('web@.service', 'launched')
      .catch((x: unknown) => x)) as DriverError;
    expect(e.code).to.equal('INVALID');
    expect(e.message).to.equal(
      `the fleet API at ${srv.endpoint} refused to set unit web@.service to launched: cannot activate template "web@.service"`,
    );
  });

  it("reads /state (UnitState) and /machines (Machine) in fleet's shapes", async () => {
    srv = await serve((r) =>
      r.url.startsWith('/fleet/v1/state')
        ? {
            status: 200,
            body: {
              states: [
                {
                  name: 'a.service',
                  hash: 'h',
                  machineID: 'm1',
                  systemdLoadState: 'loaded',
                  systemdActiveState: 'active',
                  systemdSubState: 'running',
                },
              ],
            },
          }
        : {
            status: 200,
            body: { machines: [{ id: 'm1', primaryIP: '10.0.0.1', metadata: { region: 'eu' } }] },
          },
    );
    driver = await open(srv.endpoint);
    expect(await driver.listUnitStates('a.service')).to.deep.equal([
      {
        name: 'a.service',
        machineId: 'm1',
        hash: 'h',
        loadState: 'loaded',
        activeState: 'active',
        subState: 'running',
      },
    ]);
    expect(srv.seen[0]!.url).to.equal('/fleet/v1/state?unitName=a.service&pageSize=10000');
    expect(await driver.listMachines()).to.deep.equal([
      { id: 'm1', primaryIp: '10.0.0.1', metadata: { region: 'eu' }, draining: false },
    ]);
  });

  it('TLS files with a plain http:// endpoint are refused in one sentence (https:// was meant)', async () => {
    const r = await run(['list-units', '--endpoint=http://127.0.0.1:1', `--ca-file=${join(dir, 'ca.pem')}`]);
    expect(r.status, 'a usage error').to.equal(2);
    expect(r.stderr).to.equal(
      'fleetctl: --ca-file is set but --endpoint http://127.0.0.1:1 is not https://; use an https:// endpoint or drop the TLS flags\n' +
        "Run 'fleetctl --help' for usage.\n",
    );
  });

  it('a silent server is one sentence naming it and --request-timeout', async () => {
    srv = await serve(() => ({ status: 200, body: { units: [] }, delayMs: 3000 }));
    driver = await open(srv.endpoint, 200);
    const e = (await driver.listUnits().catch((x: unknown) => x)) as DriverError;
    expect(e.code).to.equal('UNREACHABLE');
    expect(e.message).to.contain(
      `cannot reach the fleet API at ${srv.endpoint}: no answer within 0.2 s (--request-timeout)`,
    );
  });

  it("something that is not fleet's API is named as such", async () => {
    srv = await serve(() => ({ status: 200, body: { machines: 'not a list' } }));
    driver = await open(srv.endpoint);
    const e = (await driver.listMachines().catch((x: unknown) => x)) as DriverError;
    expect(e.code).to.equal('SERVER');
    expect(e.message).to.contain("is it fleet's API?");
  });

  it("end to end: `fleetctl list-units` over a unix socket prints fleet's table; a missing socket is exit 1", async () => {
    srv = await serve(
      (r) =>
        r.url.startsWith('/fleet/v1/state')
          ? {
              status: 200,
              body: {
                states: [
                  {
                    name: 'a.service',
                    hash: 'h',
                    machineID: '0123456789abcdef',
                    systemdLoadState: 'loaded',
                    systemdActiveState: 'active',
                    systemdSubState: 'running',
                  },
                ],
              },
            }
          : {
              status: 200,
              body: { machines: [{ id: '0123456789abcdef', primaryIP: '10.0.0.1', metadata: {} }] },
            },
      { socket: join(dir, 'fleet.sock') },
    );
    const r = await run(['list-units'], { env: { FLEETCTL_ENDPOINT: srv.endpoint } });
    expect(r.stdout).to.equal(
      'UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\na.service\t01234567.../10.0.0.1\tactive\trunning\n',
    );
    expect(r.status).to.equal(0);
    // TLS files set for the whole shell (fleet-lab's export line) are left unused on a unix socket.
    const withTls = await run(['list-units'], {
      env: {
        FLEETCTL_ENDPOINT: srv.endpoint,
        FLEETCTL_CA_FILE: join(dir, 'no-such-ca.pem'),
        FLEETCTL_CERT_FILE: join(dir, 'no-such-cert.pem'),
        FLEETCTL_KEY_FILE: join(dir, 'no-such-key.pem'),
      },
    });
    expect(withTls.stderr).to.equal('');
    expect(withTls.stdout).to.equal(r.stdout);
    const gone = await run(['list-units', `--endpoint=unix://${join(dir, 'none.sock')}`]);
    expect(gone.status).to.equal(1);
    expect(gone.stderr).to.equal(
      `fleetctl: cannot reach the fleet API at unix://${join(dir, 'none.sock')}: no such socket; check that fleetd runs there with its API enabled, or pass --endpoint (FLEETCTL_ENDPOINT), or use --driver=etcd --endpoint http://ETCD:2379\n`,
    );
  });

  it('the API driver never loads the etcd client (module trace of a real run), the etcd driver does', async () => {
    const log = join(dir, 'modules.log');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(process.env.TRACE_LOG, r.url + '\\n'); return r; }
export function load(url, ctx, next) { appendFileSync(process.env.TRACE_LOG, 'load ' + url + '\\n'); return next(url, ctx); }`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module'; import { pathToFileURL } from 'node:url'; register(pathToFileURL(${JSON.stringify(hooks)}));`,
    );
    const trace = async (args: string[]): Promise<string[]> => {
      writeFileSync(log, '');
      const { spawnSync } = await import('node:child_process');
      spawnSync(process.execPath, ['--import', register, 'bin/fleetctl.js', ...args], {
        env: { ...process.env, TRACE_LOG: log },
        encoding: 'utf8',
      });
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('load '));
    };
    const api = await trace(['list-units', `--endpoint=unix://${join(dir, 'none.sock')}`]);
    expect(api.some((l) => l.includes('/fleetctl/drivers/api.js'))).to.equal(true);
    expect(api.filter((l) => /etcd3|grpc|drivers\/etcd\.js|lib\/registry|lib\/etcd/.test(l))).to.deep.equal(
      [],
    );
    const etcd = await trace([
      'list-units',
      '--driver=etcd',
      '--endpoint=http://127.0.0.1:1',
      '--request-timeout=0.2',
    ]);
    expect(etcd.some((l) => /node_modules\/etcd3\//.test(l))).to.equal(true);
  });
});

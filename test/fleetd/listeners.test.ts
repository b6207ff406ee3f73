import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FleetConfig } from '../../lib/config.js';
import { ListenerError, listenerSettings, openListeners, passedFds } from '../../fleetd/listeners.js';
import { PYTHON } from './notify-socket.js';
import { makeTlsFixture, type TlsFixture } from '../lib/tls-fixture.js';

type Cfg = Pick<
  FleetConfig,
  'apiUnixSocket' | 'apiTcpAddress' | 'apiTlsCertFile' | 'apiTlsKeyFile' | 'apiTlsCaFile'
>;
const none: Cfg = {
  apiUnixSocket: undefined,
  apiTcpAddress: undefined,
  apiTlsCertFile: undefined,
  apiTlsKeyFile: undefined,
  apiTlsCaFile: undefined,
};
const hello = (_req: unknown, res: { end(s: string): void }) => res.end('hello');

function getText(opts: Record<string, unknown>, tls = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(opts as never, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('fleetd/listeners', () => {
  describe('passedFds (sd_listen_fds)', () => {
    it('reads LISTEN_FDS from fd 3 with LISTEN_FDNAMES, only for our PID', () => {
      expect(
        passedFds({ LISTEN_PID: '7', LISTEN_FDS: '2', LISTEN_FDNAMES: 'fleet.socket:tls' }, 7),
      ).to.deep.equal([
        { fd: 3, name: 'fleet.socket' },
        { fd: 4, name: 'tls' },
      ]);
      expect(passedFds({ LISTEN_PID: '7', LISTEN_FDS: '1' }, 7)).to.deep.equal([{ fd: 3, name: 'unknown' }]);
      expect(
        passedFds({ LISTEN_PID: '8', LISTEN_FDS: '1' }, 7),
        'inherited, meant for another',
      ).to.deep.equal([]);
      expect(passedFds({ LISTEN_FDS: '1' }, 7)).to.deep.equal([]);
      expect(passedFds({}, 7)).to.deep.equal([]);
      expect(() => passedFds({ LISTEN_PID: 'x', LISTEN_FDS: '1' }, 7)).to.throw(
        ListenerError,
        'LISTEN_PID="x"',
      );
      expect(() => passedFds({ LISTEN_PID: '7', LISTEN_FDS: '-1' }, 7)).to.throw(
        ListenerError,
        'LISTEN_FDS="-1"',
      );
    });

    it('listenerSettings changes when a listener option does', () => {
      expect(listenerSettings(none)).to.equal(listenerSettings({ ...none }));
      expect(listenerSettings(none)).to.not.equal(listenerSettings({ ...none, apiUnixSocket: '/x' }));
    });
  });

  describe('configured listeners', function () {
    this.timeout(20000);
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'listeners-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('a unix socket (replacing a stale one) and TCP; close removes the socket file; env LISTEN_* are cleared', async () => {
      const path = join(dir, 'fleet.sock');
      // a stale socket file: bound by a process that exited without removing it
      execFileSync(PYTHON, [
        '-c',
        'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)',
        path,
      ]);
      expect(existsSync(path)).to.equal(true);
      const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '1' };
      const l = await openListeners(
        { ...none, apiUnixSocket: path, apiTcpAddress: { host: '127.0.0.1', port: 0 } },
        hello,
        { env },
      );
      try {
        expect(l.activated).to.equal(false);
        expect(env).to.deep.equal({});
        expect(l.list.map((x) => x.description)).to.deep.equal([`unix ${path}`, 'tcp 127.0.0.1:0']);
        expect(await getText({ socketPath: path, path: '/' })).to.equal('hello');
        const port = (l.list[1]!.server.address() as AddressInfo).port;
        expect(await getText({ host: '127.0.0.1', port, path: '/' })).to.equal('hello');
      } finally {
        await l.close();
      }
      expect(existsSync(path)).to.equal(false);
    });

    it('refuses a path served by another process, or that is not a socket; opens nothing then', async () => {
      const path = join(dir, 'fleet.sock');
      const other = createServer().listen(path);
      await new Promise((r) => other.once('listening', r));
      try {
        let e: unknown;
        try {
          await openListeners({ ...none, apiUnixSocket: path }, hello, { env: {} });
        } catch (x) {
          e = x;
        }
        expect(e).to.be.instanceOf(ListenerError);
        expect((e as Error).message).to.contain(`already serves ${path}`);
      } finally {
        other.close();
      }
      const file = join(dir, 'file');
      writeFileSync(file, 'x');
      const blocker = createServer().listen(0, '127.0.0.1');
      await new Promise((r) => blocker.once('listening', r));
      const taken = (blocker.address() as AddressInfo).port;
      try {
        for (const [cfg, msg] of [
          [{ ...none, apiUnixSocket: file }, 'is not a socket'],
          [
            {
              ...none,
              apiUnixSocket: join(dir, 'ok.sock'),
              apiTcpAddress: { host: '127.0.0.1', port: taken },
            },
            `cannot listen on 127.0.0.1:${taken}`,
          ],
        ] as const) {
          let e: unknown;
          try {
            await openListeners(cfg, hello, { env: {} });
          } catch (x) {
            e = x;
          }
          expect((e as Error).message).to.contain(msg);
        }
        expect(existsSync(join(dir, 'ok.sock')), 'all or nothing: the unix socket was closed again').to.equal(
          false,
        );
      } finally {
        blocker.close();
      }
    });

    describe('TLS', () => {
      let tls: TlsFixture;
      before(function () {
        this.timeout(30000);
        tls = makeTlsFixture();
      });
      after(() => tls.remove());

      it('with api_tls_cafile: a client certificate signed by it is required', async () => {
        const l = await openListeners(
          {
            ...none,
            apiUnixSocket: undefined,
            apiTcpAddress: { host: '127.0.0.1', port: 0 },
            apiTlsCertFile: tls.serverCert,
            apiTlsKeyFile: tls.serverKey,
            apiTlsCaFile: tls.caCert,
          },
          hello,
          { env: {} },
        );
        try {
          expect(l.list[0]!.description).to.equal('tls 127.0.0.1:0');
          const port = (l.list[0]!.server.address() as AddressInfo).port;
          const ca = readFileSync(tls.caCert);
          const base = { host: '127.0.0.1', port, path: '/', ca };
          expect(
            await getText(
              { ...base, cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) } as never,
              true,
            ),
          ).to.equal('hello');
          let refused: unknown;
          try {
            await getText(base as never, true);
          } catch (e) {
            refused = e;
          }
          expect(refused, 'no client certificate').to.be.instanceOf(Error);
          let plain: unknown;
          try {
            await getText({ host: '127.0.0.1', port, path: '/' });
          } catch (e) {
            plain = e;
          }
          expect(plain, 'plain HTTP on the TLS port').to.be.instanceOf(Error);
        } finally {
          await l.close();
        }
      });

      it('without a CA: TLS only; unreadable files are named', async () => {
        const l = await openListeners(
          {
            ...none,
            apiTcpAddress: { host: '127.0.0.1', port: 0 },
            apiTlsCertFile: tls.serverCert,
            apiTlsKeyFile: tls.serverKey,
          },
          hello,
          { env: {} },
        );
        try {
          const port = (l.list[0]!.server.address() as AddressInfo).port;
          expect(
            await getText(
              { host: '127.0.0.1', port, path: '/', ca: readFileSync(tls.caCert) } as never,
              true,
            ),
          ).to.equal('hello');
        } finally {
          await l.close();
        }
        let e: unknown;
        try {
          await openListeners(
            {
              ...none,
              apiTcpAddress: { host: '127.0.0.1', port: 0 },
              apiTlsCertFile: '/nope.pem',
              apiTlsKeyFile: tls.serverKey,
            },
            hello,
            { env: {} },
          );
        } catch (x) {
          e = x;
        }
        expect((e as Error).message).to.contain('cannot read api_tls_certfile /nope.pem');
      });
    });
  });
});

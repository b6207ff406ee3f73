import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer, freePort } from '../../lab/etcd-server.js';
import {
  connectEtcd,
  createEtcdClient,
  etcdError,
  EtcdClientError,
  type EtcdClientConfig,
} from '../../lib/etcd-client.js';
import { makeTlsFixture, type TlsFixture } from './tls-fixture.js';

async function caught(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

function expectEtcdError(err: unknown, code: string, ...mentions: string[]): void {
  expect(err, String(err)).to.be.instanceOf(EtcdClientError);
  expect((err as EtcdClientError).code, (err as Error).message).to.equal(code);
  for (const m of mentions) expect((err as Error).message).to.contain(m);
}

describe('lib/etcd-client: TLS, client certificates and username/password against a real etcd', function () {
  let tls: TlsFixture;
  let etcd: EtcdServer;
  let httpsEndpoint: string;
  let base: EtcdClientConfig;

  before(async () => {
    tls = makeTlsFixture();
    // EtcdServer checks /health over http on its client port: keep that listener and add https.
    const httpPort = await freePort();
    const httpsPort = await freePort();
    // By name, as certificates usually are (grpc warns when asked to verify a bare IP).
    httpsEndpoint = `https://localhost:${httpsPort}`;
    etcd = await EtcdServer.start({
      clientPort: httpPort,
      extraArgs: [
        '--listen-client-urls',
        `http://127.0.0.1:${httpPort},https://127.0.0.1:${httpsPort}`,
        '--cert-file',
        tls.serverCert,
        '--key-file',
        tls.serverKey,
        '--trusted-ca-file',
        tls.caCert,
        '--client-cert-auth',
      ],
    });
    base = {
      etcdServers: [httpsEndpoint],
      etcdCaFile: tls.caCert,
      etcdCertFile: tls.clientCert,
      etcdKeyFile: tls.clientKey,
      etcdRequestTimeoutMs: 2000,
    };
  });

  after(async () => {
    await etcd?.remove();
    tls?.remove();
    if (tls) expect(existsSync(tls.dir)).to.equal(false);
  });

  it('talks TLS with a client certificate', async () => {
    const client = await connectEtcd(base);
    try {
      await client.put('/fleet/tls').value('yes');
      expect(await client.get('/fleet/tls').string()).to.equal('yes');
    } finally {
      client.close();
    }
  });

  it('without a client certificate: a TLS error naming the endpoint', async () => {
    const err = await caught(connectEtcd({ ...base, etcdCertFile: undefined, etcdKeyFile: undefined }));
    expectEtcdError(err, 'ETCD_TLS', httpsEndpoint, 'etcd_certfile');
    expect((err as EtcdClientError).retryable).to.equal(false);
  });

  it('with the wrong CA: a TLS error naming the endpoint and etcd_cafile', async () => {
    const err = await caught(connectEtcd({ ...base, etcdCaFile: tls.otherCaCert }));
    expectEtcdError(err, 'ETCD_TLS', httpsEndpoint, 'etcd_cafile');
  });

  it('with unreadable or non-PEM TLS files: one error naming every file', () => {
    const missing = join(tls.dir, 'nope.pem');
    let err: unknown;
    try {
      createEtcdClient({
        ...base,
        etcdCaFile: missing,
        etcdKeyFile: tls.caKey + '.missing',
        etcdCertFile: tls.dir,
      });
    } catch (e) {
      err = e;
    }
    expectEtcdError(
      err,
      'ETCD_TLS_FILE',
      `etcd_cafile ${missing}`,
      'ENOENT',
      'etcd_keyfile',
      'etcd_certfile',
    );
  });

  it('with a certificate and a key that do not match: an error naming both files', () => {
    let err: unknown;
    try {
      createEtcdClient({ ...base, etcdKeyFile: tls.serverKey });
    } catch (e) {
      err = e;
    }
    expectEtcdError(err, 'ETCD_TLS', tls.clientCert, tls.serverKey);
  });

  describe('with username/password auth enabled', () => {
    before(async () => {
      const admin = createEtcdClient(base);
      try {
        await admin.role('root').create();
        await admin.user('root').create('root-secret');
        await admin.user('root').addRole('root');
        await admin.role('fleet').create();
        await admin
          .role('fleet')
          .grant({ permission: 'Readwrite', range: admin.range({ prefix: '/fleet/' }) });
        await admin.user('fleet').create('s3cret');
        await admin.user('fleet').addRole('fleet');
        await admin.auth.authEnable({});
      } finally {
        admin.close();
      }
    });

    it('works with the right username and password', async () => {
      const client = await connectEtcd({
        ...base,
        etcdUsername: 'fleet',
        etcdPassword: 's3cret',
        etcdKeyPrefix: '/fleet/',
      });
      try {
        await client.put('/fleet/auth').value('ok');
        expect(await client.get('/fleet/auth').string()).to.equal('ok');
      } finally {
        client.close();
      }
    });

    it('a wrong password: a typed error naming the endpoint and the user', async () => {
      const err = await caught(connectEtcd({ ...base, etcdUsername: 'fleet', etcdPassword: 'wrong' }));
      expectEtcdError(err, 'ETCD_AUTH_FAILED', httpsEndpoint, "'fleet'", 'etcd_password');
      expect((err as EtcdClientError).retryable).to.equal(false);
    });

    it('a key outside the granted range: permission denied, named', async () => {
      const cfg = { ...base, etcdUsername: 'fleet', etcdPassword: 's3cret', etcdKeyPrefix: '/fleet/' };
      const client = await connectEtcd(cfg);
      try {
        const err = etcdError(
          await caught(client.put('/elsewhere').value('x').exec()),
          cfg,
          'write /elsewhere',
        );
        expectEtcdError(err, 'ETCD_PERMISSION_DENIED', httpsEndpoint, 'write /elsewhere');
      } finally {
        client.close();
      }
    });
  });
});

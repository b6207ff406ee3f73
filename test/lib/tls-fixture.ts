/**
 * A throwaway CA, server certificate (for 127.0.0.1) and client certificate, made with openssl in
 * a temporary directory; remove() deletes it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsFixture {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing etcd trusts. */
  otherCaCert: string;
  remove(): void;
}

export function makeTlsFixture(clientCommonName = 'fleet-client'): TlsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-tls-'));
  const p = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const ca = (name: string) =>
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        p(`${name}.key`),
        '-out',
        p(`${name}.crt`),
      );
    const leaf = (name: string, cn: string, ext: string) => {
      writeFileSync(p(`${name}.ext`), ext);
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=${cn}`,
        '-keyout',
        p(`${name}.key`),
        '-out',
        p(`${name}.csr`),
      );
      ssl(
        'x509',
        '-req',
        '-in',
        p(`${name}.csr`),
        '-CA',
        p('ca.crt'),
        '-CAkey',
        p('ca.key'),
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        p(`${name}.crt`),
        '-extfile',
        p(`${name}.ext`),
      );
    };
    ca('ca');
    ca('other-ca');
    leaf(
      'server',
      'etcd',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    leaf('client', clientCommonName, 'extendedKeyUsage=clientAuth\n');
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    otherCaCert: p('other-ca.crt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

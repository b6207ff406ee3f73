/**
 * The lab's TLS: a CA of its own and, signed by it, one certificate per machine (subjectAltName =
 * the machine's IP; server and client use, so its fleetd both serves its API over mutual TLS and
 * forwards status/journal requests to its peers) and one client certificate for the host's
 * fleetctl. Made with openssl (argument arrays, no shell) under <cluster dir>/tls; removed with the
 * cluster directory by `down`.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { runOk } from './proc.js';

/** The port each machine's fleetd serves its API on, at the machine's own IP. */
export const LAB_API_PORT = 49153;

/** Where fleet.conf points fleetd inside a machine. */
export const MACHINE_TLS = {
  dir: 'etc/fleet/tls',
  ca: '/etc/fleet/tls/ca.pem',
  cert: '/etc/fleet/tls/machine.pem',
  key: '/etc/fleet/tls/machine-key.pem',
} as const;

export interface LabTls {
  dir: string;
  /** The CA certificate (fleetctl --ca-file). */
  ca: string;
  /** The host's client certificate and key (fleetctl --cert-file, --key-file). */
  clientCert: string;
  clientKey: string;
}

/** PEM texts of one machine's files (what is written into it). */
export interface MachineTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

const DAYS = '30';
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[], what: string): Promise<void> {
  try {
    await runOk(['openssl', ...args], { timeoutMs: 30000 });
  } catch (e) {
    throw new LabError(`cannot make ${what} with openssl: ${(e as Error).message}; is openssl installed?`, {
      cause: e,
    });
  }
}

/** Signs a new key's certificate with the lab CA. */
async function issue(
  dir: string,
  base: string,
  subject: string,
  extensions: string[],
  what: string,
): Promise<void> {
  const csr = join(dir, `${base}.csr`);
  const ext = join(dir, `${base}.ext`);
  await openssl(
    ['req', '-new', ...KEY_ARGS, '-keyout', join(dir, `${base}-key.pem`), '-out', csr, '-subj', subject],
    what,
  );
  writeFileSync(ext, extensions.join('\n') + '\n');
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(dir, 'ca.pem'),
      '-CAkey',
      join(dir, 'ca-key.pem'),
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      '-days',
      DAYS,
      '-out',
      join(dir, `${base}.pem`),
      '-extfile',
      ext,
    ],
    what,
  );
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  chmodSync(join(dir, `${base}-key.pem`), 0o600);
}

/** The extensions of a machine's certificate: its IP, for serving and for calling its peers. Pure. */
export function machineExtensions(ip: string): string[] {
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=IP:${ip}`,
  ];
}

/** Makes the CA, a certificate per machine and the host's client certificate. */
export async function makeLabTls(
  clusterDir: string,
  cluster: string,
  machines: readonly { name: string; ip: string }[],
): Promise<LabTls> {
  const dir = join(clusterDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req',
      '-x509',
      ...KEY_ARGS,
      '-keyout',
      join(dir, 'ca-key.pem'),
      '-out',
      join(dir, 'ca.pem'),
      '-days',
      DAYS,
      '-subj',
      `/CN=fleet-lab ${cluster} CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    `the CA of cluster "${cluster}"`,
  );
  chmodSync(join(dir, 'ca-key.pem'), 0o600);
  await Promise.all(
    machines.map((m) =>
      issue(
        dir,
        m.name,
        `/CN=${m.name}.${cluster}.fleet-lab`,
        machineExtensions(m.ip),
        `the certificate of machine ${m.name}`,
      ),
    ),
  );
  await issue(
    dir,
    'fleetctl',
    `/CN=fleetctl.${cluster}.fleet-lab`,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ],
    'the client certificate of fleetctl',
  );
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    clientCert: join(dir, 'fleetctl.pem'),
    clientKey: join(dir, 'fleetctl-key.pem'),
  };
}

/** A certificate for a machine that joins a running cluster (Lab.addMachine), signed by its CA. */
export async function issueMachineCert(
  tls: LabTls,
  cluster: string,
  m: { name: string; ip: string },
): Promise<void> {
  await issue(
    tls.dir,
    m.name,
    `/CN=${m.name}.${cluster}.fleet-lab`,
    machineExtensions(m.ip),
    `the certificate of machine ${m.name}`,
  );
}

/** The files a machine gets (its own certificate and key, and the CA). */
export function machineTlsFiles(tls: LabTls, machine: string): MachineTlsFiles {
  return {
    ca: readFileSync(tls.ca, 'utf8'),
    cert: readFileSync(join(tls.dir, `${machine}.pem`), 'utf8'),
    key: readFileSync(join(tls.dir, `${machine}-key.pem`), 'utf8'),
  };
}

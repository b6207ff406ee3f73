/**
 * fleet's TLS flags (--ca-file, --cert-file, --key-file; FLEETCTL_CA_FILE...), read for an https
 * connection: the API driver's, and status/journal's to a unit's machine.
 */
import { readFileSync } from 'node:fs';
import { DriverError, type DriverOptions } from './driver.js';

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

type TlsOptions = Pick<DriverOptions, 'caFile' | 'certFile' | 'keyFile'>;

/** The TLS flags that are set, in fleet's order, with their paths. */
export function tlsFlagsSet(opts: TlsOptions): { slot: keyof TlsFiles; flag: string; path: string }[] {
  const all = [
    { slot: 'ca', flag: '--ca-file', path: opts.caFile },
    { slot: 'cert', flag: '--cert-file', path: opts.certFile },
    { slot: 'key', flag: '--key-file', path: opts.keyFile },
  ] as const;
  return all.filter((f): f is (typeof all)[number] & { path: string } => !!f.path);
}

/** Reads the files of the TLS flags that are set; a file that cannot be read is a CONFIG error naming it. */
export function readTlsFiles(opts: TlsOptions): TlsFiles {
  const tls: TlsFiles = {};
  for (const { slot, flag, path } of tlsFlagsSet(opts)) {
    try {
      tls[slot] = readFileSync(path);
    } catch (e) {
      throw new DriverError(
        'CONFIG',
        `cannot read ${flag} ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)}); fix the path`,
      );
    }
  }
  return tls;
}

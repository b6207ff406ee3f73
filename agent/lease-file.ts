/**
 * The lease file: where the agent leaves its current etcd lease ID, so that `fleetd fence`
 * (fleetd/fence.ts, run by systemd after fleetd crashed) can revoke it once the machine's units are
 * stopped, and the engine re-places them at once instead of after agent_ttl.
 *
 * It lives next to units_directory: `<units_directory>.lease` (default /run/fleet/units.lease), a
 * JSON object { machineId, leaseId, writtenAt }. Written atomically (temporary file + rename) when
 * a lease is granted, removed when the agent leaves cleanly (its lease already revoked). A restart
 * leaves it: the next agent overwrites it when it registers.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import { AgentError } from './errors.js';

export interface LeaseFileRecord {
  machineId: string;
  leaseId: string;
  writtenAt: string;
}

export type LeaseFileRead =
  { kind: 'lease'; record: LeaseFileRecord } | { kind: 'missing' } | { kind: 'invalid'; problem: string };

/** Where the agent using units_directory keeps its lease ID. */
export function leaseFilePath(unitsDirectory: string): string {
  return `${unitsDirectory.replace(/\/+$/, '') || '/run/fleet/units'}.lease`;
}

/** Pure: the file's text -> its record, or what is wrong with it (naming the path). */
export function parseLeaseFile(text: string, path: string): LeaseFileRead {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', problem: `lease file ${path} is not JSON (${errorMessage(e)})` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { kind: 'invalid', problem: `lease file ${path} is not a JSON object` };
  }
  const o = v as Record<string, unknown>;
  const { machineId, leaseId, writtenAt } = o;
  if (typeof leaseId !== 'string' || !/^-?[0-9]{1,20}$/.test(leaseId) || /^-?0+$/.test(leaseId)) {
    return {
      kind: 'invalid',
      problem: `lease file ${path}: "leaseId" must be a non-zero decimal etcd lease ID, got ${JSON.stringify(leaseId)}`,
    };
  }
  if (typeof machineId !== 'string' || machineId === '') {
    return { kind: 'invalid', problem: `lease file ${path}: "machineId" is missing or not a string` };
  }
  return {
    kind: 'lease',
    record: { machineId, leaseId, writtenAt: typeof writtenAt === 'string' ? writtenAt : '' },
  };
}

/** Writes the record atomically (readers see the old file or the new one, never a part). */
export async function writeLeaseFile(path: string, record: LeaseFileRecord): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new AgentError(
      'LEASE',
      `cannot write lease file ${path} (lease ${record.leaseId} of machine ${record.machineId}): ${errorMessage(e)}; after a crash of fleetd its units are still stopped, but re-placed only when the lease expires (agent_ttl)`,
      { cause: e },
    );
  }
}

/** Reads the file; never throws (a missing or broken file is a value naming the path). */
export async function readLeaseFile(path: string): Promise<LeaseFileRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', problem: `cannot read lease file ${path}: ${errorMessage(e)}` };
  }
  return parseLeaseFile(text, path);
}

export async function removeLeaseFile(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (e) {
    throw new AgentError('LEASE', `cannot remove lease file ${path}: ${errorMessage(e)}; remove it by hand`, {
      cause: e,
    });
  }
}

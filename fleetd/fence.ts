/**
 * `fleetd fence`: fleetd.service's ExecStopPost=. When fleetd did not stop cleanly (kill -9, a
 * crash, the OOM killer, a watchdog or stop timeout), its units are still running under this
 * machine's systemd: they are systemd units, not fleetd's children. The engine re-places them
 * after agent_ttl, and they would run twice until a new fleetd's agent stopped them here. fence
 * closes that window:
 *
 *   1. end this machine's engine candidacy: revoke the lease of its key in the engine election
 *      (Registry.engineCandidacies), so that if it led, another candidate leads at once instead
 *      of after engine_lease_ttl (its engine died with it, and every schedule write is fenced by
 *      that key anyway). Done beside step 2, which it never delays;
 *   2. stop every unit in units_directory through systemd (D-Bus) and wait until each is inactive;
 *   3. only then revoke the machine's lease (from the lease file, agent/lease-file.ts), so the
 *      engine re-places the units at once instead of after the TTL.
 *
 * Stopped before revoked: a unit is never active on two machines. If a unit cannot be confirmed
 * stopped, the lease is NOT revoked (it expires after agent_ttl as before, and the log says which
 * unit). etcd unreachable: the units are stopped anyway and the lease expires by itself.
 *
 * After a clean stop (SERVICE_RESULT=success: `systemctl stop` left, `systemctl restart`
 * keeps the units for the next agent to adopt) fence does nothing. It never fails: every problem
 * is a log line naming the path, unit or endpoint, and the process exits 0 so that systemd goes on
 * (with Restart=always, to start fleetd again).
 */
import type { Etcd3 } from 'etcd3';
import type { FleetConfig } from '../lib/config.js';
import { createEtcdClient } from '../lib/etcd-client.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { isTemplate, isValidUnitName } from '../units/names.js';
import { leaseFilePath, readLeaseFile, removeLeaseFile } from '../agent/lease-file.js';
import { machineIdFrom } from '../agent/machine-id.js';
import { SystemdClient } from '../agent/systemd.js';
import { Registry, registryOptionsFrom } from '../lib/registry/index.js';
import { machineName } from '../lib/machine-id.js';

/** What systemd tells ExecStopPost= (systemd.exec(5), "Environment variables in spawned processes"). */
export interface StopOutcome {
  /** $SERVICE_RESULT: success, protocol, timeout, exit-code, signal, core-dump, watchdog, oom-kill... */
  serviceResult?: string | undefined;
  /** $EXIT_CODE: exited, killed, dumped (unset when the main process never ran). */
  exitCode?: string | undefined;
  /** $EXIT_STATUS: the exit status or the signal name (KILL, SEGV...). */
  exitStatus?: string | undefined;
}

export type FenceAction = 'nothing' | 'fence';

export interface FenceDecision {
  action: FenceAction;
  /** One sentence for the log. */
  reason: string;
}

/** systemd's outcome of the stopped fleetd -> what fence must do. Pure. */
export function fenceDecision(o: StopOutcome): FenceDecision {
  const how = [o.exitCode, o.exitStatus].filter((v) => v !== undefined && v !== '').join('/');
  const detail = how ? ` (${how})` : '';
  if (o.serviceResult === undefined || o.serviceResult === '') {
    return {
      action: 'nothing',
      reason:
        "SERVICE_RESULT is not set, so this is not fleetd.service's ExecStopPost=; nothing done (fence acts only after systemd saw fleetd stop)",
    };
  }
  if (o.serviceResult === 'success') {
    return {
      action: 'nothing',
      reason: `fleetd stopped cleanly${detail}: it already left (units stopped, lease revoked) or is restarting (units kept for the next agent); nothing to do`,
    };
  }
  return {
    action: 'fence',
    reason: `fleetd did not stop cleanly (SERVICE_RESULT=${o.serviceResult}${detail}): its units are still running and would run twice once re-placed; ending its engine candidacy, stopping the units, then revoking the lease`,
  };
}

export function stopOutcomeFromEnv(env: Readonly<Record<string, string | undefined>>): StopOutcome {
  return {
    serviceResult: env['SERVICE_RESULT'],
    exitCode: env['EXIT_CODE'],
    exitStatus: env['EXIT_STATUS'],
  };
}

export interface FenceOptions {
  outcome: StopOutcome;
  /** The configuration; undefined when it could not be read (defaults are used, nothing revoked). */
  config: FleetConfig | undefined;
  log: Logger;
  /** D-Bus address of systemd (default: the system bus). */
  busAddress?: string;
  /** How long one unit may take to stop (default 45 s; fleetd.service's TimeoutStopSec is 60 s). */
  stopTimeoutMs?: number;
  /** Deadline of the lease revocation (default 3 s). */
  revokeTimeoutMs?: number;
}

export interface FenceReport {
  action: FenceAction;
  /** Units that were running and were stopped. */
  stopped: string[];
  /** Units still running after fence (then the lease was not revoked). */
  stillActive: string[];
  /** 'revoked', 'expired' (etcd no longer knew it), or why nothing was revoked. */
  lease: string;
  /** 'resigned' (its election leases revoked), 'none' (it was no candidate), or why not. */
  engine: string;
}

const DEFAULT_UNITS_DIRECTORY = '/run/fleet/units';
const STOP_ROUNDS = 3;

function stopping(activeState: string | undefined): boolean {
  return (
    activeState === 'active' ||
    activeState === 'activating' ||
    activeState === 'reloading' ||
    activeState === 'deactivating'
  );
}

/** Runs fence. Never throws: every problem is logged and reported. */
export async function fence(opts: FenceOptions): Promise<FenceReport> {
  const { log } = opts;
  const decision = fenceDecision(opts.outcome);
  if (decision.action === 'nothing') {
    log.info(decision.reason);
    return { action: 'nothing', stopped: [], stillActive: [], lease: 'left alone', engine: 'left alone' };
  }
  log.warn(decision.reason);
  // Beside stopping the units, not before: an unreachable etcd must not delay that by a second.
  const resigning = resignEngine(opts);
  const unitsDirectory = opts.config?.unitsDirectory ?? DEFAULT_UNITS_DIRECTORY;
  const { stopped, stillActive, problem } = await stopUnits(unitsDirectory, opts);
  const engine = await resigning;
  if (problem !== undefined || stillActive.length > 0) {
    const why =
      problem ?? `units still running after ${STOP_ROUNDS} attempts to stop them: ${stillActive.join(' ')}`;
    log.error(
      `${why}; the lease is NOT revoked (the units could run twice if it were): it expires after agent_ttl, stop them by hand (systemctl stop ...)`,
    );
    return {
      action: 'fence',
      stopped,
      stillActive,
      lease: 'not revoked: units not confirmed stopped',
      engine,
    };
  }
  log.info('units stopped', { units: stopped, directory: unitsDirectory });
  const lease = await revokeLease(unitsDirectory, opts);
  return { action: 'fence', stopped, stillActive, lease, engine };
}

/** Rejects when `p` has not settled within `ms` (etcd3's own deadline may not cover a dead endpoint). */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms + 200);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Revokes a lease: 'revoked', or 'expired' when etcd no longer knows it; throws otherwise. */
async function revoke(client: Etcd3, leaseId: string, timeoutMs: number): Promise<'revoked' | 'expired'> {
  try {
    await within(
      client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline: Date.now() + timeoutMs }),
      timeoutMs,
    );
    return 'revoked';
  } catch (e) {
    if (/lease not found/i.test(errorMessage(e))) return 'expired';
    throw e;
  }
}

/** Step 1: revokes the leases of this machine's engine election keys. Never throws. */
async function resignEngine(opts: FenceOptions): Promise<string> {
  const { log, config } = opts;
  if (!config) {
    log.warn('no usable configuration: the engine candidacy is not ended (it ends after engine_lease_ttl)');
    return 'not resigned: no configuration';
  }
  if (config.disableEngine) return 'none: disable_engine';
  const candidate = machineName(config.machineIdFile);
  const timeoutMs = opts.revokeTimeoutMs ?? 3000;
  let client;
  try {
    client = createEtcdClient({ ...config, etcdRequestTimeoutMs: timeoutMs });
  } catch (e) {
    log.warn(`${errorMessage(e)}; the engine candidacy of ${candidate} ends after engine_lease_ttl`);
    return 'not resigned: no etcd client';
  }
  try {
    const registry = new Registry(client, registryOptionsFrom(config));
    const mine = await within(registry.engineCandidacies(candidate), timeoutMs);
    if (mine.length === 0) {
      log.info(`${candidate} has no key in the engine election: no candidacy to end`);
      return 'none';
    }
    // One that expired meanwhile has ended anyway.
    for (const c of mine) await revoke(client, c.lease, timeoutMs);
    log.info(
      `engine candidacy of ${candidate} ended (${mine.map((c) => c.key).join(', ')}): if it led, another candidate leads now`,
    );
    return 'resigned';
  } catch (e) {
    log.warn(
      `cannot end the engine candidacy of ${candidate} at ${config.etcdServers.join(',')}: ${errorMessage(e)}; it ends after engine_lease_ttl`,
    );
    return `not resigned: ${errorMessage(e)}`;
  } finally {
    client.close();
  }
}

async function stopUnits(
  unitsDirectory: string,
  opts: FenceOptions,
): Promise<{ stopped: string[]; stillActive: string[]; problem?: string }> {
  const { log } = opts;
  let sd: SystemdClient;
  try {
    sd = await SystemdClient.connect({
      unitsDirectory,
      log,
      callTimeoutMs: 10000,
      ...(opts.busAddress ? { busAddress: opts.busAddress } : {}),
    });
  } catch (e) {
    return { stopped: [], stillActive: [], problem: errorMessage(e) };
  }
  try {
    let names: string[];
    try {
      names = [...(await sd.readUnitFiles()).keys()];
    } catch (e) {
      return { stopped: [], stillActive: [], problem: errorMessage(e) };
    }
    const units: string[] = [];
    for (const n of names.sort()) {
      if (isValidUnitName(n) && !isTemplate(n)) units.push(n);
      else if (!isValidUnitName(n)) log.warn(`${unitsDirectory}/${n} is not a unit file name; ignored`);
    }
    const stopped = new Set<string>();
    let active: string[] = [];
    for (let round = 0; round < STOP_ROUNDS; round++) {
      // The first round stops every unit: one that is still inactive may have a start job
      // queued by the agent that just died (it would start after the lease is revoked, and run
      // twice); StopUnit replaces that job. Later rounds stop what is still running.
      if (round === 0) active = units;
      else {
        try {
          const states = await sd.list(units);
          active = units.filter((u) => stopping(states.get(u)?.activeState));
        } catch (e) {
          return { stopped: [...stopped], stillActive: [], problem: errorMessage(e) };
        }
      }
      if (active.length === 0) break;
      await Promise.all(
        active.map(async (u) => {
          try {
            const job = await sd.stop(u);
            const r = await sd.waitJob(job, opts.stopTimeoutMs ?? 45000);
            if (r === undefined) log.warn(`unit ${u}: its stop job did not finish in time`);
            stopped.add(u);
          } catch (e) {
            log.warn(errorMessage(e));
          }
        }),
      );
    }
    if (active.length > 0) {
      // The last round stopped something: check once more.
      try {
        const states = await sd.list(units);
        active = units.filter((u) => stopping(states.get(u)?.activeState));
      } catch (e) {
        return { stopped: [...stopped], stillActive: active, problem: errorMessage(e) };
      }
    }
    return { stopped: [...stopped].sort(), stillActive: active };
  } finally {
    sd.close();
  }
}

async function revokeLease(unitsDirectory: string, opts: FenceOptions): Promise<string> {
  const { log, config } = opts;
  const path = leaseFilePath(unitsDirectory);
  const read = await readLeaseFile(path);
  if (read.kind === 'missing') {
    log.info(`no lease file ${path}: nothing to revoke (the agent had no lease, or left)`);
    return 'none: no lease file';
  }
  if (read.kind === 'invalid') {
    log.warn(`${read.problem}; nothing revoked: the lease expires after agent_ttl`);
    return `none: ${read.problem}`;
  }
  const { leaseId, machineId } = read.record;
  if (!config) {
    log.warn(`no usable configuration, so no etcd to revoke lease ${leaseId} in; it expires after agent_ttl`);
    return 'not revoked: no configuration';
  }
  let ownId: string | undefined;
  try {
    ownId = machineIdFrom(config.machineIdFile);
  } catch (e) {
    log.warn(`${errorMessage(e)}; revoking lease ${leaseId} of lease file ${path} anyway`);
  }
  if (ownId !== undefined && ownId !== machineId) {
    log.warn(
      `lease file ${path} belongs to machine ${machineId}, not this machine ${ownId}; nothing revoked (remove the stale file)`,
    );
    return `not revoked: lease file of machine ${machineId}`;
  }
  const timeoutMs = opts.revokeTimeoutMs ?? 3000;
  let client;
  try {
    client = createEtcdClient({ ...config, etcdRequestTimeoutMs: timeoutMs });
  } catch (e) {
    log.warn(`${errorMessage(e)}; lease ${leaseId} not revoked: it expires after agent_ttl`);
    return 'not revoked: no etcd client';
  }
  try {
    const outcome = await revoke(client, leaseId, timeoutMs);
    log.info(
      outcome === 'revoked'
        ? `lease ${leaseId} of machine ${machineId} revoked: the engine re-places its units now`
        : `lease ${leaseId} of machine ${machineId} had already expired`,
    );
    await removeLeaseFile(path).catch((e: unknown) => log.warn(`${errorMessage(e)}`));
    return outcome;
  } catch (e) {
    const msg = errorMessage(e);
    log.warn(
      `cannot revoke lease ${leaseId} of machine ${machineId} at ${config.etcdServers.join(',')}: ${msg}; the units are stopped and the lease expires after agent_ttl`,
    );
    return `not revoked: ${msg}`;
  } finally {
    client.close();
  }
}

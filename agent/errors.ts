/**
 * The agent's typed errors. D-Bus and file-system failures are converted here, at the edge, into
 * errors that name the unit, the systemd operation and what to do; no raw D-Bus error escapes.
 */
import { FleetError, errorMessage } from '../lib/errors.js';

export type AgentErrorCode =
  /** The system bus could not be reached (or went away). Retryable. */
  | 'DBUS_UNAVAILABLE'
  /** systemd refused or failed an operation on a unit. */
  | 'SYSTEMD_OPERATION'
  /** A D-Bus call got no answer in time. Retryable. */
  | 'DBUS_TIMEOUT'
  /** The unit file could not be written or removed. */
  | 'UNIT_FILE'
  /** The machine ID could not be read. */
  | 'MACHINE_ID'
  /** The agent's lease could not be granted, renewed or revoked. Retryable. */
  | 'LEASE'
  /** Leaving: some units could not be stopped, so the lease was not revoked. */
  | 'LEAVE_INCOMPLETE';

export class AgentError extends FleetError<AgentErrorCode> {}

/** What systemd's D-Bus error names mean for the person reading the log. */
function advice(dbusName: string | undefined, operation: string): string {
  switch (dbusName) {
    case 'org.freedesktop.systemd1.NoSuchUnit':
      return 'systemd does not know the unit: check that its file was linked (ls -l /run/systemd/system) and that systemd was reloaded';
    case 'org.freedesktop.systemd1.LoadFailed':
    case 'org.freedesktop.systemd1.BadUnitSetting':
      return 'systemd could not load the unit file: fix the file (systemd-analyze verify, journalctl -u) and submit it again';
    case 'org.freedesktop.systemd1.UnitMasked':
      return 'the unit is masked on this machine: unmask it (systemctl unmask) or place it elsewhere';
    case 'org.freedesktop.systemd1.TransactionIsDestructive':
    case 'org.freedesktop.systemd1.TransactionJobsConflicting':
      return 'systemd refused the job because of conflicting jobs: check the unit dependencies (Conflicts=, Requires=)';
    case 'org.freedesktop.DBus.Error.AccessDenied':
      return 'the agent is not allowed to manage units: run it as root';
    case 'org.freedesktop.DBus.Error.LimitsExceeded':
      return 'the bus refused more pending calls from the agent; it retries shortly';
    case 'org.freedesktop.DBus.Error.NoReply':
    case 'org.freedesktop.DBus.Error.Timeout':
      return 'systemd did not answer in time: it may be busy; the agent retries at its next reconcile';
    default:
      return `the agent retries ${operation} at its next reconcile; see journalctl on this machine`;
  }
}

/** A D-Bus error (dbus-next's DBusError has `type`), or anything thrown by a call, for one unit. */
export function systemdError(err: unknown, operation: string, unit?: string): AgentError {
  if (err instanceof AgentError) return err;
  const dbusName = (err as { type?: unknown })?.type;
  const name = typeof dbusName === 'string' ? dbusName : undefined;
  const what = unit ? `${operation} of unit ${unit}` : operation;
  const timeout =
    name === 'org.freedesktop.DBus.Error.NoReply' || name === 'org.freedesktop.DBus.Error.Timeout';
  // the call never reached systemd: nothing happened to the unit, try again
  const refused = name === 'org.freedesktop.DBus.Error.LimitsExceeded';
  return new AgentError(
    timeout ? 'DBUS_TIMEOUT' : 'SYSTEMD_OPERATION',
    `systemd: ${what} failed: ${errorMessage(err)}${name ? ` (${name})` : ''}; ${advice(name, operation)}`,
    { cause: err, retryable: timeout || refused },
  );
}

import { expect } from 'chai';
import dbus from 'dbus-next';
import { AgentError, systemdError } from '../../agent/errors.js';
import { SystemdClient } from '../../agent/systemd.js';

describe('agent/errors: D-Bus failures become typed errors naming the unit and what to do', () => {
  it('converts a systemd D-Bus error, naming the unit, the operation and the remedy', () => {
    const e = systemdError(
      new dbus.DBusError('org.freedesktop.systemd1.NoSuchUnit', 'Unit x.service not loaded.'),
      'start (StartUnit)',
      'x.service',
    );
    expect(e).to.be.instanceOf(AgentError);
    expect(e.code).to.equal('SYSTEMD_OPERATION');
    expect(e.message).to.contain('start (StartUnit) of unit x.service').and.contain('was linked');
    expect(e.retryable).to.equal(false);
    const t = systemdError(new dbus.DBusError('org.freedesktop.DBus.Error.NoReply', 'no reply'), 'reload');
    expect(t.code).to.equal('DBUS_TIMEOUT');
    expect(t.retryable).to.equal(true);
    // the bus refused the call (too many pending replies): systemd never saw it, try again
    const l = systemdError(
      new dbus.DBusError(
        'org.freedesktop.DBus.Error.LimitsExceeded',
        'The maximum number of pending replies',
      ),
      'start (StartUnit)',
      'y.service',
    );
    expect(l.retryable).to.equal(true);
    expect(l.message).to.contain('y.service').and.contain('retries shortly');
  });

  it('a bus that cannot be reached is a retryable DBUS_UNAVAILABLE naming the address (no crash)', async () => {
    let err: unknown;
    try {
      await SystemdClient.connect({
        busAddress: 'unix:path=/nonexistent/fleet-agent-test/bus',
        unitsDirectory: '/nonexistent',
        callTimeoutMs: 2000,
      });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(AgentError);
    expect((err as AgentError).code).to.equal('DBUS_UNAVAILABLE');
    expect((err as AgentError).retryable).to.equal(true);
    expect((err as AgentError).message)
      .to.contain('/nonexistent/fleet-agent-test/bus')
      .and.contain('dbus');
  });
});

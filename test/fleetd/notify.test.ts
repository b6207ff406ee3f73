import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNotifier, notifyArgs } from '../../fleetd/notify.js';
import { notifySocket, type NotifySocket } from './notify-socket.js';

describe('fleetd/notify', () => {
  it('builds systemd-notify arguments (one line per field)', () => {
    expect(notifyArgs(42, ['READY=1', 'STATUS=a\nb'])).to.deep.equal(['--pid=42', 'READY=1', 'STATUS=a b']);
  });

  it('does nothing without NOTIFY_SOCKET', async () => {
    const calls: string[][] = [];
    const n = createNotifier({ env: {}, run: async (_f, a) => void calls.push([...a]) });
    expect(n.enabled).to.equal(false);
    await n.ready();
    expect(calls).to.deep.equal([]);
  });

  it('reports a failing helper without throwing', async () => {
    const errors: string[] = [];
    const n = createNotifier({
      env: { NOTIFY_SOCKET: '/nonexistent/notify' },
      binary: '/nonexistent/systemd-notify',
      onError: (m) => errors.push(m),
    });
    await n.ready();
    expect(errors).to.have.length(1);
    expect(errors[0]).to.contain('could not notify systemd (READY=1) via /nonexistent/systemd-notify');
  });

  describe('against a real notify socket (systemd-notify sends, python3 receives)', function () {
    this.timeout(20000);
    let dir: string;
    let sock: NotifySocket;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'notify-'));
      sock = await notifySocket(join(dir, 'notify'));
    });
    afterEach(async () => {
      await sock.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('READY=1, RELOADING=1, STOPPING=1 and STATUS arrive as datagrams', async () => {
      const errors: string[] = [];
      const n = createNotifier({
        env: { ...process.env, NOTIFY_SOCKET: sock.path },
        onError: (m) => errors.push(m),
      });
      expect(n.enabled).to.equal(true);
      await n.ready('serving');
      await n.reloading();
      await n.stopping();
      await sock.waitFor('STOPPING=1');
      expect(errors).to.deep.equal([]);
      // systemd-notify follows each message with a BARRIER=1 (it waits until it was read)
      const sent = sock.messages.filter((m) => m !== 'BARRIER=1');
      expect(sent).to.have.length(3);
      expect(sent[0]).to.contain('READY=1').and.contain('STATUS=serving');
      expect(sent[1]).to.contain('RELOADING=1');
      expect(sent[2]).to.contain('STOPPING=1');
    });
  });
});

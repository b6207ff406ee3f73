/**
 * fleetd under a real systemd (a fleet-lab machine): the shipped fleet.socket and fleetd.service
 * (ExecStart pointed at the checkout), socket activation on the first connection, READY and STATUS
 * accepted by systemd (Type=notify), reload and stop. Root only, like fleet-lab.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, REPO_ROOT } from '../../lab/lab.js';
import { clusterDir } from '../../lab/state.js';

describe('fleetd in a fleet-lab machine (real systemd)', function () {
  this.timeout(120000);
  const name = `t${process.pid}d`;
  let lab: Lab | undefined;

  before(function () {
    if (process.getuid?.() !== 0) {
      // Note: fleet-lab needs root (namespaces, cgroups); so do these tests.
      this.skip();
    }
  });
  after(async () => {
    if (existsSync(clusterDir(name))) await Lab.down(name);
  });

  it('fleet.socket starts fleetd.service on the first connection; READY, reload and stop under systemd', async () => {
    lab = await Lab.up({ name, machines: 1 });
    const sh = async (script: string) => {
      const r = await lab!.exec('m1', ['sh', '-c', script], 60000);
      return r;
    };
    const curl =
      'curl -s -o /dev/stderr -w "%{http_code}" --unix-socket /var/run/fleet.sock http://fleet/fleet/v1/machines';
    // the lab's own fleetd.service (Type=simple: active before it listens) opens /var/run/fleet.sock
    const retried = await sh(
      `for i in $(seq 100); do c=$(${curl} 2>/dev/null); [ "$c" = 200 ] && break; sleep 0.1; done; echo $c`,
    );
    expect(retried.stdout.trim()).to.equal('200');
    expect((await sh('journalctl -u fleetd.service -o cat --no-pager')).stdout).to.not.contain(
      'FLEET_CONFIG',
    );

    // replace it with the shipped units, run from the checkout
    const fleetd = `${process.execPath} ${join(REPO_ROOT, 'bin/fleetd.js')}`;
    const service = readFileSync(join(REPO_ROOT, 'fleetd/units/fleetd.service'), 'utf8')
      .replace(/^ExecStart=.*$/m, `ExecStart=${fleetd}\nWorkingDirectory=${REPO_ROOT}`)
      .replace(/^ExecStopPost=\/usr\/local\/bin\/fleetd fence$/m, `ExecStopPost=${fleetd} fence`);
    expect(service).to.contain(`ExecStopPost=${fleetd} fence`);
    const socket = readFileSync(join(REPO_ROOT, 'fleetd/units/fleet.socket'), 'utf8');
    const write = (path: string, text: string) => sh(`cat > ${path} <<'FLEET_EOF'\n${text}FLEET_EOF\n`);
    await sh('systemctl stop fleetd.service; rm -f /var/run/fleet.sock');
    await write('/etc/systemd/system/fleetd.service', service);
    await write('/etc/systemd/system/fleet.socket', socket);
    const start = await sh(
      'systemctl daemon-reload && systemctl start fleet.socket && systemctl is-active fleet.socket',
    );
    expect(start.stdout.trim(), start.stderr).to.equal('active');
    expect((await sh('systemctl is-active fleetd.service')).stdout.trim()).to.equal('inactive');

    // the first connection is made before fleetd exists; systemd starts it and it answers
    const first = await sh(curl);
    expect(first.stdout, first.stderr).to.equal('200');
    const show = async () =>
      Object.fromEntries(
        (
          await sh('systemctl show -p ActiveState,SubState,StatusText,Type,NRestarts,MainPID fleetd.service')
        ).stdout
          .trim()
          .split('\n')
          .map((l) => l.split('=', 2) as [string, string]),
      );
    // the API answers at once; READY (active) follows once the engine and the agent have started
    const settled = async () => {
      let s = await show();
      for (let i = 0; i < 150 && s['ActiveState'] === 'activating'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await show();
      }
      return s;
    };
    const s1 = await settled();
    expect(s1).to.deep.include({
      Type: 'notify',
      ActiveState: 'active',
      SubState: 'running',
      StatusText: 'serving',
    });
    const journal = async () => (await sh('journalctl -u fleetd.service -o cat --no-pager')).stdout;
    // journald may take a moment to show what fleetd just wrote: read until the line is there (10 s)
    const journalWith = async (text: string) => {
      let j = await journal();
      for (let i = 0; i < 100 && !j.includes(text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        j = await journal();
      }
      return j;
    };
    expect(await journalWith('API listening on="fd 3 (fleet.socket)"')).to.contain(
      'API listening on="fd 3 (fleet.socket)"',
    );

    // systemctl reload: RELOADING=1 ... READY=1, the same socket keeps serving
    // (systemd shows "reloading" between RELOADING=1 and the READY=1 that follows)
    const reload = await sh(
      'systemctl reload fleetd.service; for i in $(seq 150); do s=$(systemctl is-active fleetd.service); [ "$s" = active ] && break; sleep 0.1; done; echo $s',
    );
    expect(reload.stdout.trim(), reload.stderr).to.equal('active');
    // systemd counts the reload done when ExecReload has sent SIGHUP; fleetd logs once it has reloaded
    expect(await journalWith('configuration reloaded')).to.contain('configuration reloaded');
    expect((await sh(curl)).stdout).to.equal('200');

    // stop: STOPPING=1, a clean exit; the socket stays with systemd and starts fleetd again
    await sh('systemctl stop fleetd.service');
    expect(await journalWith('received SIGTERM, stopping')).to.contain('received SIGTERM, stopping');
    expect((await sh('systemctl show -p Result --value fleetd.service')).stdout.trim()).to.equal('success');
    // the shipped ExecStopPost= (fleetd fence) ran, saw the clean stop and did nothing
    expect(await journalWith('fleetd stopped cleanly')).to.contain('fleetd stopped cleanly');
    expect((await sh(curl)).stdout).to.equal('200');
    expect((await settled()).ActiveState).to.equal('active');

    // kill -9: ExecStopPost= fences (SERVICE_RESULT=signal), then Restart=always starts fleetd again
    const before = await show();
    await sh(`kill -9 ${before['MainPID']}`);
    expect(await journalWith('SERVICE_RESULT=signal')).to.contain('SERVICE_RESULT=signal (killed/KILL)');
    let after = await show();
    for (
      let i = 0;
      i < 300 && !(after['ActiveState'] === 'active' && after['NRestarts'] !== before['NRestarts']);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
      after = await show();
    }
    expect(after, 'restarted by systemd after the fence').to.deep.include({ ActiveState: 'active' });
    expect(Number(after['NRestarts'])).to.equal(Number(before['NRestarts']) + 1);
    expect(after['MainPID']).to.not.equal(before['MainPID']);
    expect((await sh(curl)).stdout).to.equal('200');

    await lab.down();
    lab = undefined;
  });
});

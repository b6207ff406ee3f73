/**
 * docs/automation.md's examples are real: its etcd3 script and its etcdctl examples run against
 * the fixture etcd (the test's prefix in place of /fleet/), with the stand-in engine + agent of
 * test/fleetctl/harness.ts playing the cluster, and fleet reads what they write like its own.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from '../../lib/registry/index.js';
import { useEtcd } from '../fixtures/etcd.js';
import { until } from '../fixtures/until.js';
import { StandInCluster } from '../fleetctl/harness.js';

const run = promisify(execFile);
const DOC = new URL('../../../docs/automation.md', import.meta.url);
const M1 = '0123456789abcdef0123456789abcdef';

/** The fenced block (```sh or ```js) following each `<!-- example: NAME -->` marker. */
function examples(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/<!-- example: ([\w-]+) -->\n```(?:sh|js)\n([\s\S]*?)```/g)) {
    out.set(m[1]!, m[2]!);
  }
  return out;
}

describe('docs/automation.md: the examples run against a real etcd', function () {
  this.timeout(60000);
  const etcd = useEtcd();
  const doc = examples(readFileSync(DOC, 'utf8'));
  let tmp: string;
  let cluster: StandInCluster | undefined;

  beforeEach(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'automation-doc-'));
    cluster = new StandInCluster(etcd.client, etcd.prefix);
    await cluster.addMachine(M1, '10.0.0.5');
    cluster.autopilot(50);
  });
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it('has the examples this test runs', () => {
    expect([...doc.keys()]).to.include.members(['etcdctl-lifecycle', 'etcdctl-destroy', 'etcd3-script']);
  });

  it('the etcd3 script submits, starts, reads the states and destroys', async () => {
    // The script imports 'etcd3'; from a temporary directory, point it at this project's copy.
    const etcd3 = pathToFileURL(createRequire(import.meta.url).resolve('etcd3')).href;
    const script = doc.get('etcd3-script')!.replace("from 'etcd3'", `from '${etcd3}'`);
    const file = join(tmp, 'hello.mjs');
    writeFileSync(file, script);
    const { stdout } = await run(process.execPath, [file], {
      env: { ...process.env, ETCD_ENDPOINTS: etcd.endpoint, FLEET_PREFIX: etcd.prefix },
      timeout: 50000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('not running yet'));
    expect(lines).to.deep.equal([
      'hello.service submitted',
      'hello.service launched',
      `hello.service on ${M1}: active/running`,
      'hello.service destroyed',
    ]);
    expect(await new Registry(etcd.client, { prefix: etcd.prefix }).getUnit('hello.service')).to.equal(
      undefined,
    );
  });

  it('the etcdctl examples: the unit is read like a fleetctl-written one, placed, then destroyed', async () => {
    const sh = (name: string) =>
      run('bash', ['-euo', 'pipefail', '-c', doc.get(name)!.replaceAll('/fleet/', etcd.prefix)], {
        env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: etcd.endpoint },
      });
    await sh('etcdctl-lifecycle');
    const reg = new Registry(etcd.client, { prefix: etcd.prefix });
    const u = await reg.getUnit('hello.service');
    expect(u!.record).to.include({ desiredState: 'launched', source: 'my-tool' });
    await until(
      async () => (await reg.listSchedule()).items.some((i) => i.record.unit === 'hello.service'),
      'placed',
    );
    await sh('etcdctl-destroy');
    expect(await reg.getUnit('hello.service')).to.equal(undefined);
  });
});

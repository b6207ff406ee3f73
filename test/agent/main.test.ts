/**
 * agent/main.ts (one agent as a process of its own): an argument it does not take is refused,
 * naming it, before it reads any configuration or talks to etcd.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../agent/main.js', import.meta.url));

describe('agent/main', () => {
  for (const args of [['fence'], ['--agent-ttl=30s', 'extra']]) {
    it(`refuses ${JSON.stringify(args)}: exit 1, naming the argument and what it takes`, () => {
      const r = spawnSync(process.execPath, [MAIN, ...args], {
        encoding: 'utf8',
        timeout: 20000,
        // Nothing to connect to: the refusal must come first.
        env: { PATH: process.env.PATH ?? '', FLEET_ETCD_SERVERS: 'http://127.0.0.1:1' },
      });
      expect(r.status, r.stderr).to.equal(1);
      const bad = args[args.length - 1]!;
      expect(r.stderr).to.contain(`unexpected argument "${bad}"`).and.contain('--config');
    });
  }
});

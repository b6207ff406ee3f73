import { expect } from 'chai';
import { isRestartJob } from '../../agent/agent.js';

describe('agent: a SIGTERM during `systemctl restart` is not leaving', () => {
  it('systemd job types that start the service again mean restart', () => {
    for (const t of ['restart', 'try-restart', 'reload-or-restart', 'reload-or-try-restart'])
      expect(isRestartJob(t), t).to.equal(true);
  });
  it('a stop job, any other job, or none means leave', () => {
    for (const t of ['stop', 'start', 'reload', 'verify-active', '', undefined])
      expect(isRestartJob(t), String(t)).to.equal(false);
  });
});

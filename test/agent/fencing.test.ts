import { expect } from 'chai';
import fc from 'fast-check';
import { escapeBusLabel, unescapeBusLabel, unitObjectPath, unitOfObjectPath } from '../../agent/bus-path.js';
import { fenceDeadline, leaseTiming, mustFence } from '../../agent/fencing.js';

describe('agent/fencing: lease timing and the fencing deadline', () => {
  it('renews every TTL/3 and fences a margin before the TTL runs out (TTL 3 s)', () => {
    const t = leaseTiming(3000);
    expect(t.renewEveryMs).to.equal(1000);
    expect(t.marginMs).to.equal(750);
    expect(fenceDeadline(10_000, t)).to.equal(12_250);
    expect(mustFence(12_249, 10_000, t)).to.equal(false);
    expect(mustFence(12_250, 10_000, t)).to.equal(true);
  });

  it('bounds the margin to [0.5 s, 5 s]', () => {
    expect(leaseTiming(1000).marginMs).to.equal(500);
    expect(leaseTiming(120_000).marginMs).to.equal(5000);
  });

  it('for any TTL >= 2 s: the deadline falls before the lease can expire, after at least two renewal attempts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2000, max: 600_000 }), fc.integer({ min: 0, max: 1e12 }), (ttl, sent) => {
        const t = leaseTiming(ttl);
        const d = fenceDeadline(sent, t);
        expect(d).to.be.lessThan(sent + ttl);
        expect(d - sent).to.be.at.least(t.renewEveryMs + t.retryEveryMs);
        expect(t.renewTimeoutMs).to.be.at.most(t.renewEveryMs);
      }),
    );
  });
});

describe('agent/bus-path: unit object paths as systemd escapes them', () => {
  it('matches systemd for known units', () => {
    expect(unitObjectPath('hello.service')).to.equal('/org/freedesktop/systemd1/unit/hello_2eservice');
    expect(unitObjectPath('web@1.service')).to.equal('/org/freedesktop/systemd1/unit/web_401_2eservice');
    expect(unitObjectPath('dbus-org.x.service')).to.equal(
      '/org/freedesktop/systemd1/unit/dbus_2dorg_2ex_2eservice',
    );
    expect(escapeBusLabel('1a')).to.equal('_31a');
    expect(unitOfObjectPath('/org/freedesktop/systemd1/unit/hello_2eservice')).to.equal('hello.service');
    expect(unitOfObjectPath('/org/freedesktop/systemd1/job/12')).to.equal(undefined);
    expect(unescapeBusLabel('bad-label')).to.equal(undefined);
  });

  it('round-trips any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(unescapeBusLabel(escapeBusLabel(s))).to.equal(s);
      }),
    );
  });
});

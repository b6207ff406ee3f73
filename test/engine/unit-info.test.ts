import { expect } from 'chai';
import { ParseCache, UnitReader, socketTarget } from '../../engine/unit-info.js';
import { defaultUnitBodyCheck } from '../../lib/registry/index.js';
import { parseUnitFile } from '../../units/index.js';

const BODIES = [
  '[Service]\nExecStart=/bin/true\n',
  '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[X-Fleet]\nConflicts=web*\nMachineMetadata=region=eu\n',
  '[X-Fleet]\nGlobal=true\nMachineOf=a.service\n',
  '[Socket]\nListenStream=80\nAccept=yes\n',
  '# nothing\n',
  '[Unit\nbroken',
];

describe('engine/unit-info', () => {
  it('ParseCache gives the registry default check’s verdicts and hashes', () => {
    const cache = new ParseCache();
    for (const b of BODIES) {
      expect(cache.check(b)).to.deep.equal(defaultUnitBodyCheck(b));
      expect(cache.check(b), 'again, from the cache').to.deep.equal(defaultUnitBodyCheck(b));
    }
  });

  it('reading through the cache derives what loadUnit derives', () => {
    for (const [i, body] of BODIES.entries()) {
      for (const name of ['a.service', 'foo.socket', 'x@1.service']) {
        const cache = new ParseCache();
        const v = cache.check(body);
        const input = {
          name,
          body,
          hash: v.ok ? v.hash : `bad${i}`,
          desiredState: 'launched' as const,
        };
        const fast = new UnitReader(cache).read(input);
        const slow = new UnitReader().read(input);
        expect(fast, `${name}: ${JSON.stringify(body)}`).to.deep.equal(slow);
      }
    }
  });

  it('finds the unit a socket activates: Service=, Accept=yes, or the same name', () => {
    const p = (t: string) => {
      const r = parseUnitFile(t);
      if (!r.ok) throw new Error('parse');
      return r.unit;
    };
    expect(socketTarget('foo.socket', p('[Socket]\nListenStream=1\n'))).to.deep.equal({
      service: 'foo.service',
    });
    expect(socketTarget('foo.socket', p('[Socket]\nAccept=yes\n'))).to.deep.equal({
      template: 'foo@.service',
    });
    expect(socketTarget('foo.socket', p('[Socket]\nService=bar.service\nAccept=yes\n'))).to.deep.equal({
      service: 'bar.service',
    });
  });
});

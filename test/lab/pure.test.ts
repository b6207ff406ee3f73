import { expect } from 'chai';
import { parseMetadataFlag } from '../../lab/lab.js';
import { bootScript, MASKED_UNITS } from '../../lab/machine.js';
import { bridgeName, cidrsOverlap, vethName } from '../../lab/network.js';
import { checkClusterName } from '../../lab/state.js';

describe('lab: pure parts', () => {
  it('parses --metadata mI:k=v,k=v and rejects the rest with the flag in the message', () => {
    expect(parseMetadataFlag('m2:region=eu,disk=ssd')).to.deep.equal(['m2', { region: 'eu', disk: 'ssd' }]);
    expect(parseMetadataFlag('m10:a=b=c')).to.deep.equal(['m10', { a: 'b=c' }]);
    expect(() => parseMetadataFlag('x2:region=eu')).to.throw(/x2:region=eu/);
    expect(() => parseMetadataFlag('m2:region')).to.throw(/not key=value/);
    expect(() => parseMetadataFlag('m0:a=b')).to.throw(/expected mI/);
  });

  it('names links within 15 characters (IFNAMSIZ) and distinctly per cluster', () => {
    const names = ['default', 'a', 'a-very-long-cluster-name-30-ch'];
    for (const n of names) {
      expect(bridgeName(n).length).to.be.at.most(15);
      expect(vethName(n, 200).length).to.be.at.most(15);
    }
    expect(new Set(names.map(bridgeName)).size).to.equal(names.length);
  });

  it('detects overlapping networks', () => {
    expect(cidrsOverlap('10.213.7.0/24', '10.0.0.0/8')).to.equal(true);
    expect(cidrsOverlap('10.213.7.0/24', '10.213.7.5')).to.equal(true);
    expect(cidrsOverlap('10.213.7.0/24', '10.213.8.0/24')).to.equal(false);
    expect(cidrsOverlap('10.213.7.0/24', '192.0.2.0/24')).to.equal(false);
    expect(cidrsOverlap('0.0.0.0/0', '10.213.7.0/24')).to.equal(true);
  });

  it('validates cluster names', () => {
    expect(() => checkClusterName('ok-1')).to.not.throw();
    for (const bad of ['', 'Upper', '../x', 'a b', '-x', 'x'.repeat(31)]) {
      expect(() => checkClusterName(bad), bad).to.throw(/invalid cluster name/);
    }
  });

  it('the boot script refuses to boot unless it is PID 1 in a new mount namespace on an overlay, and boots basic.target', () => {
    const s = bootScript({
      cluster: 'c',
      name: 'm1',
      dir: '/run/fleet-lab/c/m1',
      machineId: '0'.repeat(32),
      repo: '/work/repo',
      cgroup: '/sys/fs/cgroup/fleet-lab/c/m1',
      files: {},
      enable: [],
    });
    expect(s).to.contain('[ "$$" = 1 ] || die');
    expect(s).to.match(/readlink \/proc\/self\/ns\/mnt\)" != 'mnt:\[\d+\]' \] \|\| die/);
    expect(s).to.contain('= overlay ] || die');
    expect(s).to.contain('lowerdir=/,upperdir=$M/rw/upper');
    // proc is fresh, not the host's; /run and /tmp are the machine's own tmpfs.
    expect(s).to.contain('mount -n -t proc');
    expect(s).to.contain('tmpfs "$R/tmp"');
    expect(s).to.contain('tmpfs "$R/run"');
    expect(s).to.contain('--unit=basic.target');
    // pivot_root comes after every mount and before systemd.
    expect(s.indexOf('pivot_root')).to.be.greaterThan(s.lastIndexOf('mount -n -o remount,bind,ro'));
    expect(s.indexOf('pivot_root')).to.be.lessThan(s.indexOf('/usr/lib/systemd/systemd'));
    expect(MASKED_UNITS).to.include('systemd-modules-load.service');
  });
});

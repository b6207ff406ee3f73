/**
 * The pure decisions behind status/journal (fleetd/api/unit-output.ts), the endpoint a machine
 * advertises (lib/api-endpoint.ts) and PUT ?replace=true (fleetd/api/shapes.ts decidePut).
 */
import { expect } from 'chai';
import { ApiError } from '../../fleetd/api/errors.js';
import { decidePut } from '../../fleetd/api/shapes.js';
import { loadUnit } from '../../units/index.js';
import {
  checkUnitName,
  journalArgv,
  parseJournalQuery,
  placeUnitOutput,
  statusArgv,
} from '../../fleetd/api/unit-output.js';
import { advertisedApiEndpoint } from '../../lib/api-endpoint.js';
import type { UnitRecord } from '../../lib/registry/index.js';

describe('fleetd status/journal decisions (pure)', () => {
  it('journal query: lines and follow, bad values refused with 400', () => {
    expect(parseJournalQuery(new URLSearchParams(''))).to.deep.equal({ lines: 10, follow: false });
    expect(parseJournalQuery(new URLSearchParams('lines=0&follow=true'))).to.deep.equal({
      lines: 0,
      follow: true,
    });
    for (const q of ['lines=-1', 'lines=abc', 'lines=1e3', 'lines=99999999', 'follow=maybe']) {
      expect(() => parseJournalQuery(new URLSearchParams(q)), q).to.throw(ApiError);
    }
  });

  it('argv: the unit name is one argument after --, or --unit=NAME; never a shell', () => {
    expect(statusArgv('-x.service')).to.deep.equal([
      'systemctl',
      'status',
      '--no-pager',
      '--full',
      '-n',
      '10',
      '--',
      '-x.service',
    ]);
    expect(journalArgv('web@1.service', { lines: 3, follow: true })).to.deep.equal([
      'journalctl',
      '--unit=web@1.service',
      '--lines',
      '3',
      '--no-pager',
      '--follow',
    ]);
    for (const bad of ['a b.service', 'x;rm -rf /.service', '../etc.service', 'noext', '']) {
      expect(() => checkUnitName(bad), bad).to.throw(ApiError, 'invalid unit name');
    }
    expect(() => checkUnitName('web@1.service')).not.to.throw();
  });

  it('placement: local, forwarded, or refused with the reason', () => {
    const cases: [string[], string | undefined, string | undefined, boolean, string][] = [
      [['m1'], undefined, 'm1', false, 'local'],
      [['m2'], undefined, 'm1', false, 'remote:m2'],
      [['m2'], undefined, undefined, false, 'remote:m2'],
      [[], undefined, 'm1', false, 'refused:409'],
      [['m1', 'm2'], undefined, 'm1', false, 'refused:409'],
      [[], 'm1', 'm1', true, 'local'],
      [[], 'm2', 'm1', false, 'remote:m2'],
      [[], 'm2', 'm1', true, 'refused:421'], // a forwarded request is never forwarded again
      [['m2'], undefined, 'm1', true, 'refused:421'],
    ];
    for (const [on, asked, self, fwd, want] of cases) {
      const p = placeUnitOutput('u.service', on, asked, self, fwd);
      const got =
        p.kind === 'remote'
          ? `remote:${p.machineId}`
          : p.kind === 'refused'
            ? `refused:${p.status}`
            : 'local';
      expect(got, JSON.stringify([on, asked, self, fwd])).to.equal(want);
    }
    const g = placeUnitOutput('g.service', ['m1', 'm2'], undefined, 'm1', false);
    expect(g.kind === 'refused' && g.message).to.contain('unit g.service is global and runs on 2 machines');
  });

  it('the advertised endpoint: the TCP listener, https with TLS, the public IP for a wildcard host', () => {
    const tcp = (host: string, port = 49153) => ({ host, port });
    expect(
      advertisedApiEndpoint({ apiTcpAddress: undefined, apiTlsCertFile: '/c', publicIp: '10.0.0.2' }),
    ).to.equal(undefined);
    expect(
      advertisedApiEndpoint({ apiTcpAddress: tcp('10.0.0.2'), apiTlsCertFile: '/c', publicIp: undefined }),
    ).to.equal('https://10.0.0.2:49153');
    expect(
      advertisedApiEndpoint({ apiTcpAddress: tcp(''), apiTlsCertFile: undefined, publicIp: '10.0.0.3' }),
    ).to.equal('http://10.0.0.3:49153');
    expect(
      advertisedApiEndpoint({ apiTcpAddress: tcp('0.0.0.0'), apiTlsCertFile: '/c', publicIp: undefined }),
    ).to.equal(undefined);
    expect(
      advertisedApiEndpoint({ apiTcpAddress: tcp('::1', 1), apiTlsCertFile: '/c', publicIp: undefined }),
    ).to.equal('https://[::1]:1');
  });

  it('PUT ?replace=true replaces a differing file (keeping or setting the desired state); without it, 409', () => {
    const body = '[Service]\nExecStart=/bin/true\n';
    const existing: UnitRecord = {
      name: 'a.service',
      body,
      hash: loadUnit('a.service', body).hash,
      desiredState: 'launched',
      source: 'test',
    } as UnitRecord;
    const options = [{ section: 'Service', name: 'ExecStart', value: '/bin/false' }];
    const req = { name: 'a.service', options, desiredState: undefined };
    expect(() => decidePut(req, existing)).to.throw(ApiError, 'PUT with ?replace=true');
    const d = decidePut(req, existing, true);
    expect(d.kind).to.equal('replace');
    expect(d.kind === 'replace' && d.desiredState).to.equal(undefined);
    expect(d.kind === 'replace' && d.body).to.contain('ExecStart=/bin/false');
    const same = decidePut(
      {
        name: 'a.service',
        options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }],
        desiredState: 'loaded',
      },
      existing,
      true,
    );
    expect(same).to.deep.equal({ kind: 'set-state', name: 'a.service', desiredState: 'loaded' });
  });
});

/** The pure parts of fleetctl: tables, fields, legends, argument logic, the wait predicate. */
import { expect } from 'chai';
import { chooseDriver, type MachineInfo, type UnitInfo, type UnitStateInfo } from '../../fleetctl/driver.js';
import { driverOptionsFrom } from '../../fleetctl/cli.js';
import {
  LIST_MACHINES_FIELDS,
  LIST_UNIT_FILES_FIELDS,
  LIST_UNITS_FIELDS,
  machineIdLegend,
  machineLegend,
  parseFields,
  renderTable,
  tabulate,
} from '../../fleetctl/format.js';
import { localPathOf, unitNameOf } from '../../fleetctl/lazy.js';
import { reached } from '../../fleetctl/wait.js';
import { bodyOfOptions, isGlobalOptions, optionsOfBody } from '../../fleetctl/unit-text.js';

const ID = '113f16a7b2e34f5d8e9a0b1c2d3e4f50';
const machines = new Map<string, MachineInfo>([[ID, { id: ID, primaryIp: '172.17.8.103', metadata: {} }]]);

describe('fleetctl formatting (pure)', () => {
  describe('tabulate: Go text/tabwriter(0, 8, 1, "\\t", 0), as fleet prints', () => {
    const cases: [string, string[][], string][] = [
      ['one column: no padding at all', [['UNIT'], ['a.service']], 'UNIT\na.service\n'],
      [
        'pads to the next tab stop past the widest cell + 1',
        [
          ['A', 'B'],
          ['abcdefg', 'x'],
        ],
        'A\tB\nabcdefg\tx\n',
      ],
      [
        '8 characters need a second tab stop (padding 1)',
        [
          ['A', 'B'],
          ['abcdefgh', 'x'],
        ],
        'A\t\tB\nabcdefgh\tx\n',
      ],
      [
        'fleet list-units example',
        [
          ['UNIT', 'MACHINE', 'ACTIVE', 'SUB'],
          ['hello.service', '113f16a7.../172.17.8.103', 'active', 'running'],
        ],
        'UNIT\t\tMACHINE\t\t\t\tACTIVE\tSUB\nhello.service\t113f16a7.../172.17.8.103\tactive\trunning\n',
      ],
      ['empty table', [], ''],
    ];
    for (const [what, rows, text] of cases) it(what, () => expect(tabulate(rows)).to.equal(text));
  });

  it('machine legends: 8 characters and "..." unless full; "/IP" when known', () => {
    expect(machineIdLegend(ID, false)).to.equal('113f16a7...');
    expect(machineIdLegend(ID, true)).to.equal(ID);
    expect(machineIdLegend('m1', false)).to.equal('m1...'); // fleet appends "..." even to short IDs
    expect(machineLegend(ID, machines, false)).to.equal('113f16a7.../172.17.8.103');
    expect(machineLegend('unknown', machines, false)).to.equal('unknown...');
  });

  describe('--fields', () => {
    it('accepts known fields in the order given', () => {
      expect(parseFields('sub,unit', LIST_UNITS_FIELDS)).to.deep.equal({ ok: true, fields: ['sub', 'unit'] });
    });
    it('refuses an unknown or empty one, listing the valid ones', () => {
      expect(parseFields('unit,nope', LIST_UNITS_FIELDS)).to.deep.equal({
        ok: false,
        reason: 'invalid field "nope" in --fields; valid fields are active,hash,load,machine,sub,unit',
      });
      expect(parseFields('', LIST_UNITS_FIELDS).ok).to.equal(false);
      expect(parseFields('constructor', LIST_UNITS_FIELDS).ok).to.equal(false);
    });
  });

  const state: UnitStateInfo = {
    name: 'hello.service',
    machineId: ID,
    hash: 'abcdef0123456789',
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
  };

  it('list-units rows: --full, --no-legend, hash shortened to 7', () => {
    const opts = { fields: ['unit', 'machine', 'hash', 'load'], full: false, noLegend: false, machines };
    expect(renderTable([state], LIST_UNITS_FIELDS, opts)).to.equal(
      'UNIT\t\tMACHINE\t\t\t\tHASH\tLOAD\nhello.service\t113f16a7.../172.17.8.103\tabcdef0\tloaded\n',
    );
    expect(renderTable([state], LIST_UNITS_FIELDS, { ...opts, full: true, noLegend: true })).to.equal(
      `hello.service\t${ID}/172.17.8.103\tabcdef0123456789\tloaded\n`,
    );
  });

  const unit = (over: Partial<UnitInfo>): UnitInfo => ({
    name: 'a.service',
    body: '',
    options: [{ section: 'Unit', name: 'Description', value: 'Hi' }],
    hash: '0123456789abcdef',
    desiredState: 'launched',
    currentState: 'launched',
    machineId: ID,
    machineIds: [ID],
    global: false,
    ...over,
  });

  it('list-unit-files: target, global units, desc, state', () => {
    const global = unit({
      name: 'g.service',
      options: [{ section: 'X-Fleet', name: 'Global', value: 'true' }],
      global: true,
      machineId: undefined,
      machineIds: [],
    });
    const rows = renderTable(
      [unit({}), global, unit({ name: 'i.service', currentState: 'inactive', machineId: undefined })],
      LIST_UNIT_FILES_FIELDS,
      {
        fields: ['unit', 'global', 'state', 'target', 'desc'],
        full: false,
        noLegend: true,
        machines,
      },
    );
    expect(rows).to.equal(
      'a.service\tfalse\tlaunched\t113f16a7.../172.17.8.103\tHi\ng.service\ttrue\t-\t\tglobal\t\t\t\t-\ni.service\tfalse\tinactive\t-\t\t\t\tHi\n',
    );
  });

  it('list-machines: metadata sorted by key, "-" when empty', () => {
    const ms: MachineInfo[] = [
      { id: ID, primaryIp: '10.0.0.1', metadata: { region: 'eu', disk: 'ssd' } },
      { id: 'm2', primaryIp: '', metadata: {} },
    ];
    expect(
      renderTable(ms, LIST_MACHINES_FIELDS, {
        fields: ['machine', 'ip', 'metadata'],
        full: false,
        noLegend: false,
        machines,
      }),
    ).to.equal('MACHINE\t\tIP\t\tMETADATA\n113f16a7...\t10.0.0.1\tdisk=ssd,region=eu\nm2...\t\t-\t\t-\n');
  });
});

describe('fleetctl arguments (pure)', () => {
  it('unit names from arguments, as fleet mangles them', () => {
    expect(unitNameOf('hello')).to.equal('hello.service');
    expect(unitNameOf('dir/hello.service')).to.equal('hello.service');
    expect(unitNameOf('web@1.socket')).to.equal('web@1.socket');
    expect(unitNameOf('v1.2')).to.equal('v1.2.service');
    expect(localPathOf('dir/hello')).to.equal('dir/hello.service');
    expect(localPathOf('dir/hello.timer')).to.equal('dir/hello.timer');
  });

  it('chooses the driver like fleet: --driver wins, an etcd port means etcd, else the API', () => {
    expect(chooseDriver(undefined, undefined)).to.equal('api');
    expect(chooseDriver('API', 'http://10.0.0.1:2379')).to.equal('api');
    expect(chooseDriver(undefined, 'http://10.0.0.1:2379,http://10.0.0.2:2379')).to.equal('etcd');
    expect(chooseDriver(undefined, 'http://10.0.0.1:4001')).to.equal('etcd');
    expect(chooseDriver(undefined, 'http://10.0.0.1:8080')).to.equal('api');
    expect(chooseDriver('etcd', undefined)).to.equal('etcd');
  });

  it('driver options from flags: defaults per driver, deprecated TLS names, timeout in ms', () => {
    const api = driverOptionsFrom({ requestTimeout: 3, etcdKeyPrefix: '/fleet/' });
    expect(api).to.deep.include({ ok: true });
    if (!api.ok) return;
    expect(api.options).to.deep.include({
      kind: 'api',
      endpoint: 'unix:///var/run/fleet.sock',
      requestTimeoutMs: 3000,
    });
    const etcd = driverOptionsFrom({ driver: 'etcd', requestTimeout: 0.5, etcdCafile: '/ca.pem' });
    if (!etcd.ok) throw new Error('expected ok');
    expect(etcd.options).to.deep.include({
      kind: 'etcd',
      endpoint: 'http://127.0.0.1:2379',
      caFile: '/ca.pem',
      requestTimeoutMs: 500,
    });
    expect(driverOptionsFrom({ requestTimeout: 0 }).ok).to.equal(false);
  });

  it('Global= as systemd/fleet read it: truthy values, the last one wins', () => {
    const g = (...values: string[]) =>
      isGlobalOptions(values.map((value) => ({ section: 'X-Fleet', name: 'Global', value })));
    expect(g('true')).to.equal(true);
    expect(g('yes')).to.equal(true);
    expect(g('1')).to.equal(true);
    expect(g('false')).to.equal(false);
    expect(g('true', 'no')).to.equal(false);
    expect(g()).to.equal(false);
    expect(isGlobalOptions([{ section: 'Unit', name: 'Global', value: 'true' }])).to.equal(false);
  });

  it('unit text <-> API options keeps the options (and so the hash)', () => {
    const body = '# c\n[Unit]\nDescription=A\n\n[Service]\nExecStart=/bin/a \\\n  b\n';
    const opts = optionsOfBody(body);
    expect(opts).to.deep.equal([
      { section: 'Unit', name: 'Description', value: 'A' },
      { section: 'Service', name: 'ExecStart', value: '/bin/a    b' },
    ]);
    expect(optionsOfBody(bodyOfOptions(opts))).to.deep.equal(opts);
  });
});

describe('fleetctl wait predicate (pure)', () => {
  const u: UnitInfo = {
    global: false,
    name: 'a.service',
    body: '',
    options: [],
    hash: 'h1',
    desiredState: 'launched',
    currentState: 'launched',
    machineId: 'm1',
    machineIds: ['m1'],
  };
  const st = (over: Partial<UnitStateInfo>): UnitStateInfo => ({
    name: 'a.service',
    machineId: 'm1',
    hash: 'h1',
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
    ...over,
  });
  const cases: [
    string,
    UnitInfo | undefined,
    UnitStateInfo[],
    Parameters<typeof reached>[2],
    boolean,
    string?,
  ][] = [
    ['launched and active: done', u, [st({})], 'launched', true],
    [
      'not placed',
      { ...u, currentState: 'inactive', machineId: undefined, machineIds: [] },
      [],
      'launched',
      false,
      'has not placed',
    ],
    ['placed, no report', u, [], 'launched', false, 'no state reported'],
    ['old file still running', u, [st({ hash: 'h0' })], 'launched', false, 'another version'],
    [
      'failed is not launched',
      u,
      [st({ activeState: 'failed', subState: 'failed' })],
      'launched',
      false,
      'failed',
    ],
    [
      'loaded and dead: loaded',
      { ...u, currentState: 'loaded' },
      [st({ activeState: 'inactive', subState: 'dead' })],
      'loaded',
      true,
    ],
    ['still running: not loaded', { ...u, currentState: 'loaded' }, [st({})], 'loaded', false, 'active'],
    [
      'inactive: unplaced and unloaded',
      { ...u, currentState: 'inactive', machineIds: [] },
      [],
      'inactive',
      true,
    ],
    [
      'inactive but still loaded somewhere',
      { ...u, currentState: 'inactive', machineIds: [] },
      [st({})],
      'inactive',
      false,
      'still has it loaded',
    ],
    ['destroyed: gone', undefined, [], 'destroyed', true],
    ['destroyed but still loaded', undefined, [st({})], 'destroyed', false, 'still has it loaded'],
    [
      'global on two machines: both must agree',
      { ...u, machineIds: ['m1', 'm2'] },
      [st({})],
      'launched',
      false,
      'm2',
    ],
  ];
  for (const [what, unit, states, target, done, why] of cases) {
    it(what, () => {
      const r = reached(unit, states, target);
      expect(r.done).to.equal(done);
      if (!r.done && why) expect(r.why).to.contain(why);
    });
  }
});

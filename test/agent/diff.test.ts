import { expect } from 'chai';
import fc from 'fast-check';
import {
  Reasons,
  adoptLaunched,
  diff,
  isTemplateName,
  rememberAfter,
  type ActualUnit,
  type DesiredUnit,
  type DiffInput,
  type Task,
} from '../../agent/diff.js';

const want = (name: string, hash: string, desiredState: 'loaded' | 'launched' = 'launched'): DesiredUnit => ({
  name,
  body: `[Service]\nExecStart=/bin/true # ${hash}\n`,
  hash,
  desiredState,
});
const have = (name: string, fileHash: string | undefined, activeState?: string): ActualUnit => ({
  name,
  fileHash,
  systemd: activeState
    ? { loadState: 'loaded', activeState, subState: activeState === 'active' ? 'running' : 'dead' }
    : undefined,
});
const input = (d: DesiredUnit[], a: ActualUnit[], launched: string[] = []): DiffInput => ({
  desired: new Map(d.map((x) => [x.name, x])),
  actual: new Map(a.map((x) => [x.name, x])),
  launched: new Set(launched),
});
const show = (ts: Task[]) => ts.map((t) => `${t.type} ${t.unit}`.trim());

describe('agent/diff: desired vs actual -> ordered tasks', () => {
  const table: { what: string; in: DiffInput; out: string[]; reasons?: string[] }[] = [
    { what: 'nothing assigned, nothing of ours', in: input([], []), out: [] },
    {
      what: 'a new launched unit: load, reload, start',
      in: input([want('a.service', 'h1')], []),
      out: ['load a.service', 'reload', 'start a.service'],
      reasons: [Reasons.NOT_LOADED, Reasons.FILES_CHANGED, Reasons.LAUNCH],
    },
    {
      what: 'a new loaded unit: load and reload only',
      in: input([want('a.service', 'h1', 'loaded')], []),
      out: ['load a.service', 'reload'],
    },
    {
      what: 'a unit of ours no longer assigned: unload, reload',
      in: input([], [have('old.service', 'h0', 'active')], ['old.service']),
      out: ['unload old.service', 'reload'],
      reasons: [Reasons.UNASSIGNED, Reasons.FILES_CHANGED],
    },
    {
      what: 'a unit systemd runs that is not ours is left alone',
      in: input([], [have('sshd.service', undefined, 'active')]),
      out: [],
    },
    {
      what: 'a changed hash: unload, load, reload, start again',
      in: input([want('a.service', 'h2')], [have('a.service', 'h1', 'active')], ['a.service']),
      out: ['unload a.service', 'load a.service', 'reload', 'start a.service'],
      reasons: [
        Reasons.HASH_CHANGED,
        Reasons.HASH_CHANGED,
        Reasons.FILES_CHANGED,
        Reasons.RELAUNCH_AFTER_CHANGE,
      ],
    },
    {
      what: 'launched and launched by us: nothing, whatever systemd says (a failed unit is not retried)',
      in: input([want('a.service', 'h1')], [have('a.service', 'h1', 'failed')], ['a.service']),
      out: [],
    },
    {
      what: 'launched, loaded but not launched by us: start',
      in: input([want('a.service', 'h1')], [have('a.service', 'h1', 'inactive')]),
      out: ['start a.service'],
    },
    {
      what: 'desired loaded, launched by us: stop',
      in: input([want('a.service', 'h1', 'loaded')], [have('a.service', 'h1', 'active')], ['a.service']),
      out: ['stop a.service'],
      reasons: [Reasons.STOP_DESIRED_LOADED],
    },
    {
      what: 'desired loaded, active but not launched by us (socket-activated): left alone',
      in: input([want('a.service', 'h1', 'loaded')], [have('a.service', 'h1', 'active')]),
      out: [],
    },
    {
      what: 'a template is loaded, never started',
      in: input([want('echo@.service', 'h1')], []),
      out: ['load echo@.service', 'reload'],
    },
    {
      what: 'mixed: groups in fleet order (unload, load, reload, stop, start), names sorted',
      in: input(
        [want('b.service', 'h1'), want('a.service', 'h1'), want('c.service', 'h1', 'loaded')],
        [have('z.service', 'hz'), have('c.service', 'h1', 'active')],
        ['c.service', 'z.service'],
      ),
      out: [
        'unload z.service',
        'load a.service',
        'load b.service',
        'reload',
        'stop c.service',
        'start a.service',
        'start b.service',
      ],
    },
  ];
  for (const row of table) {
    it(row.what, () => {
      const tasks = diff(row.in);
      expect(show(tasks)).to.deep.equal(row.out);
      if (row.reasons) expect(tasks.map((t) => t.reason)).to.deep.equal(row.reasons);
    });
  }

  describe('a socket waits for the service it activates', () => {
    const sock = (name: string, extra = ''): DesiredUnit => ({
      name,
      body: `[Socket]\nListenStream=7777\n${extra}`,
      hash: 'hs',
      desiredState: 'launched',
    });
    it('is loaded but not started while its service is neither assigned here nor loaded in systemd', () => {
      expect(show(diff(input([sock('hi.socket')], [])))).to.deep.equal(['load hi.socket', 'reload']);
    });
    it('is started once its service is assigned here (loaded before the start)', () => {
      const d = input(
        [sock('hi.socket'), want('hi.service', 'h1', 'loaded')],
        [have('hi.socket', 'hs', 'inactive')],
      );
      expect(show(diff(d))).to.deep.equal(['load hi.service', 'reload', 'start hi.socket']);
    });
    it('is started when its Service= is a unit systemd already has', () => {
      const d = input(
        [sock('hi.socket', 'Service=sshd.service\n')],
        [have('sshd.service', undefined, 'inactive')],
      );
      expect(show(diff(d))).to.deep.equal(['load hi.socket', 'reload', 'start hi.socket']);
    });
    it('an Accept=yes socket (a template activates it) is not held back', () => {
      expect(show(diff(input([sock('echo.socket', 'Accept=yes\n')], [])))).to.deep.equal([
        'load echo.socket',
        'reload',
        'start echo.socket',
      ]);
    });
  });

  it('adopts what systemd runs (or ran and failed) with the assigned file, never an old file', () => {
    const i = input(
      [
        want('run.service', 'h'),
        want('fail.service', 'h'),
        want('dead.service', 'h'),
        want('old.service', 'h2'),
        want('ld.service', 'h', 'loaded'),
      ],
      [
        have('run.service', 'h', 'active'),
        have('fail.service', 'h', 'failed'),
        have('dead.service', 'h', 'inactive'),
        have('old.service', 'h1', 'active'),
        have('ld.service', 'h', 'active'),
      ],
    );
    const adopted = adoptLaunched(i);
    expect([...adopted].sort()).to.deep.equal(['fail.service', 'run.service']);
    // ...and the plan after adoption restarts nothing that runs.
    expect(show(diff({ ...i, launched: adopted }))).to.deep.equal([
      'unload old.service',
      'load old.service',
      'reload',
      'start dead.service',
      'start old.service',
    ]);
  });

  describe('properties', () => {
    const names = fc.constantFrom(
      'a.service',
      'b.service',
      'c.socket',
      'd@.service',
      'd@1.service',
      'e.timer',
    );
    const hash = fc.constantFrom('h1', 'h2');
    const active = fc.constantFrom(undefined, 'active', 'inactive', 'failed', 'activating', 'deactivating');
    const arbInput = fc
      .record({
        desired: fc.dictionary(
          names,
          fc.record({ hash, state: fc.constantFrom('loaded' as const, 'launched' as const) }),
        ),
        actual: fc.dictionary(names, fc.record({ fileHash: fc.option(hash, { nil: undefined }), active })),
        launched: fc.subarray(['a.service', 'b.service', 'c.socket', 'd@1.service', 'e.timer']),
      })
      .map(({ desired, actual, launched }) =>
        input(
          Object.entries(desired).map(([n, d]) => want(n, d.hash, d.state)),
          Object.entries(actual).map(([n, a]) => have(n, a.fileHash, a.active)),
          launched.filter((n) => actual[n]?.fileHash !== undefined),
        ),
      );

    /** The plan applied to a model of the machine. */
    function apply(i: DiffInput, tasks: Task[]): DiffInput {
      const actual = new Map(i.actual);
      let launched = new Set(i.launched);
      for (const t of tasks) {
        if (t.type === 'unload')
          actual.set(t.unit, { name: t.unit, fileHash: undefined, systemd: undefined });
        if (t.type === 'load')
          actual.set(t.unit, { name: t.unit, fileHash: i.desired.get(t.unit)!.hash, systemd: undefined });
        launched = rememberAfter(launched, t);
      }
      return { desired: i.desired, actual, launched };
    }

    it('tasks come in fleet order, with exactly one reload iff a file was written or removed', () => {
      fc.assert(
        fc.property(arbInput, (i) => {
          const tasks = diff(i);
          const rank = { unload: 0, load: 1, reload: 2, stop: 3, start: 4 };
          for (let k = 1; k < tasks.length; k++)
            expect(rank[tasks[k]!.type]).to.be.at.least(rank[tasks[k - 1]!.type]);
          const files = tasks.some((t) => t.type === 'load' || t.type === 'unload');
          expect(tasks.filter((t) => t.type === 'reload').length).to.equal(files ? 1 : 0);
          for (const t of tasks) expect(Object.values(Reasons)).to.include(t.reason);
        }),
      );
    });

    it('never touches a unit that is neither assigned nor ours; never starts a template or an unassigned unit', () => {
      fc.assert(
        fc.property(arbInput, (i) => {
          for (const t of diff(i)) {
            if (t.type === 'reload') continue;
            const mine = i.desired.has(t.unit) || i.actual.get(t.unit)?.fileHash !== undefined;
            expect(mine, `${t.type} ${t.unit}`).to.equal(true);
            if (t.type === 'start') {
              expect(isTemplateName(t.unit)).to.equal(false);
              expect(i.desired.get(t.unit)?.desiredState).to.equal('launched');
            }
          }
        }),
      );
    });

    it('converges: after the plan is applied, the next plan is empty', () => {
      fc.assert(
        fc.property(arbInput, (i) => {
          expect(show(diff(apply(i, diff(i))))).to.deep.equal([]);
        }),
      );
    });
  });
});

describe('agent/diff: rememberAfter', () => {
  const start: Task = { type: 'start', unit: 'a.service', reason: Reasons.LAUNCH };
  it('a start counts as launched, also one systemd failed (reported failed, not retried)', () => {
    expect([...rememberAfter(new Set(), start)]).to.deep.equal(['a.service']);
    expect([...rememberAfter(new Set(), start, { retryable: false })]).to.deep.equal(['a.service']);
  });
  it('a start whose call never reached systemd (retryable) does not: the next reconcile starts it', () => {
    expect([...rememberAfter(new Set(), start, { retryable: true })]).to.deep.equal([]);
    expect(
      diff({
        desired: new Map([
          ['a.service', { name: 'a.service', body: 'x', hash: 'h', desiredState: 'launched' }],
        ]),
        actual: new Map([['a.service', { name: 'a.service', fileHash: 'h', systemd: undefined }]]),
        launched: rememberAfter(new Set(), start, { retryable: true }),
      }).map((t) => t.type),
    ).to.deep.equal(['start']);
  });
  it('stop and unload forget the unit', () => {
    const l = new Set(['a.service']);
    expect([
      ...rememberAfter(l, { type: 'stop', unit: 'a.service', reason: Reasons.STOP_DESIRED_LOADED }),
    ]).to.deep.equal([]);
    expect([
      ...rememberAfter(l, { type: 'unload', unit: 'a.service', reason: Reasons.UNASSIGNED }),
    ]).to.deep.equal([]);
  });
});

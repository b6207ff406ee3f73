import { expect } from 'chai';
import fc from 'fast-check';
import {
  escapeCell,
  failureLine,
  findRow,
  parseTables,
  renderTable,
  splitRow,
  summarize,
} from '../../bench/table.js';

// Shaped like bench/schedule.ts's output: a title, a `$ cmd` line, then the table.
const SCHEDULE = `
$ node dist/bench/schedule.js --runs=3 --machines=1000 --units=100000 --in-flight=16
(medians of 3 runs; one etcd started by the bench on this machine; 1000 machines, 100,000 units)

| measure | how | result |
|---|---|--:|
| engine placements/s | 100,000 units submitted at once | 31,250 /s (3.2 s) |
| engine placements/s, cold start | already submitted | 28,000 /s (3.6 s) |
| raw etcd batched writes | 128 puts per txn, 16 in flight | 95,000 keys/s |
| engine / raw etcd (submitted at once; cold start) | | 0.33; 0.29 |
| engine RSS | peak (VmHWM) / now (VmRSS) | 310 / 250 MiB |
`;

// Shaped like bench/fleetctl.ts's output.
const FLEETCTL = `fleetctl list-units: 10000 units on 3 machines, 5 runs each (interleaved), ms

| command | median | min | max | minus node -e 0 |
|---|---:|---:|---:|---:|
| node -e 0 | 45 | 40 | 60 | 0 |
| fleetctl list-units (API driver, token_limit 100) | 812 | 790 | 900 | 767 |
`;

describe('bench/table: markdown tables read back from benchmark output', () => {
  it('finds the table among titles, command lines and blank lines', () => {
    const tables = parseTables(SCHEDULE);
    expect(tables).to.have.length(1);
    expect(tables[0]!.header).to.deep.equal(['measure', 'how', 'result']);
    expect(tables[0]!.rows).to.have.length(5);
    expect(tables[0]!.rows[3]).to.deep.equal([
      'engine / raw etcd (submitted at once; cold start)',
      '',
      '0.33; 0.29',
    ]);
  });

  it('reads several tables from one output, each ending at its first non-table line', () => {
    const tables = parseTables(`${SCHEDULE}\nprogress line\n${FLEETCTL}`);
    expect(tables.map((t) => t.header[0])).to.deep.equal(['measure', 'command']);
    expect(tables[1]!.rows.map((r) => r[0])).to.deep.equal([
      'node -e 0',
      'fleetctl list-units (API driver, token_limit 100)',
    ]);
  });

  it('does not take pipe lines without a separator row for a table', () => {
    expect(parseTables('| a | b |\n| c | d |\n')).to.deep.equal([]);
    expect(parseTables('| a | b |')).to.deep.equal([]);
  });

  it('accepts alignment colons in the separator and unescapes \\| in cells', () => {
    const [t] = parseTables('| x | y |\n|:--|:-:|\n| a \\| b | c |\n');
    expect(t!.rows).to.deep.equal([['a | b', 'c']]);
  });

  it('keeps the last cell of a row without a closing pipe, and empty cells in between', () => {
    expect(splitRow('| a || c')).to.deep.equal(['a', '', 'c']);
    expect(splitRow('not a row')).to.equal(undefined);
  });

  it('finds a row by its exact label (case and spaces ignored) or a RegExp, with cells by header', () => {
    const tables = parseTables(`${SCHEDULE}\n${FLEETCTL}`);
    const e = findRow(tables, '  Engine placements/s ');
    expect(e?.cells[2]).to.equal('31,250 /s (3.2 s)');
    expect(e?.byHeader.get('result')).to.equal('31,250 /s (3.2 s)');
    // exact: the label of a longer row is not a match for a shorter one
    expect(findRow(tables, 'engine placements/s, cold start')?.byHeader.get('result')).to.equal(
      '28,000 /s (3.6 s)',
    );
    expect(findRow(tables, /^engine \/ raw etcd/)?.byHeader.get('result')).to.equal('0.33; 0.29');
    const f = findRow(tables, 'fleetctl list-units (API driver, token_limit 100)');
    expect(f?.byHeader.get('minus node -e 0')).to.equal('767');
    expect(findRow(tables, 'engine placements')).to.equal(undefined);
  });

  it('gives "" for a header without a cell in a short row', () => {
    const found = findRow(parseTables('| a | b | c |\n|---|---|---|\n| x | y |\n'), 'x');
    expect(found?.byHeader.get('c')).to.equal('');
  });

  it('renders a table that parses back to the same cells (pipes in cells escaped)', () => {
    const cell = fc.string({ maxLength: 12 }).map((s) => s.trim());
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((w) =>
          fc.tuple(
            fc.array(
              cell.filter((s) => s !== '' && !/^:?-+:?$/.test(s)),
              { minLength: w, maxLength: w },
            ),
            fc.array(
              fc.array(
                cell.filter((s) => !/[\r\n\\]/.test(s)),
                { minLength: w, maxLength: w },
              ),
              {
                maxLength: 6,
              },
            ),
          ),
        ),
        ([header, rows]) => {
          fc.pre(header.every((h) => !/[\r\n\\]/.test(h)));
          const [t] = parseTables(renderTable(header, rows));
          expect(t).to.deep.equal({ header, rows });
        },
      ),
    );
  });

  it('aligns columns as asked and escapes cells', () => {
    expect(renderTable(['a', 'n'], [['x|y', '1']], 'lr')).to.equal('| a | n |\n|---|--:|\n| x\\|y | 1 |');
    expect(escapeCell('two\nlines')).to.equal('two lines');
  });

  it('summarizes samples: median (mean of the middle two when even), min, max', () => {
    expect(summarize([3, 1, 2])).to.deep.equal({ median: 2, min: 1, max: 3, n: 3 });
    expect(summarize([4, 1, 3, 2])).to.deep.equal({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(() => summarize([])).to.throw(RangeError);
  });
});

describe('bench/table: why a benchmark failed, from its stderr', () => {
  it('takes the last error message, not a stack frame or the brace of a dumped object', () => {
    const stderr = [
      '[schedule] run 1/3: engine 4,949 placements/s',
      '[schedule] GRPCUnavailableError: 14 UNAVAILABLE: etcdserver: request timed out',
      '[schedule]     at callErrorFromStatus (call.js:32:19)',
      '[schedule]   [Symbol(RecoverableError)]: true',
      '[schedule] }',
    ].join('\n');
    expect(failureLine(stderr)).to.equal(
      'GRPCUnavailableError: 14 UNAVAILABLE: etcdserver: request timed out',
    );
  });

  it("takes a bench's own message, else the last line", () => {
    expect(failureLine('progress\nbench/cluster: timed out after 120 s waiting for x\n')).to.equal(
      'bench/cluster: timed out after 120 s waiting for x',
    );
    expect(failureLine('one\ntwo\n\n')).to.equal('two');
    expect(failureLine('')).to.equal('');
  });
});

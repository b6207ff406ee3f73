import { expect } from 'chai';
import {
  parseBool,
  parseEndpoints,
  parseGoDuration,
  parseKeyPrefix,
  parseLeaseTtl,
  parseSecondsOrDuration,
} from '../../lib/config-values.js';
import { parseMetadata, validateMetadataKey, validateMetadataValue } from '../../lib/metadata.js';

describe('lib/config-values', () => {
  describe('parseGoDuration (Go time.ParseDuration, as fleet agent_ttl)', () => {
    const good: [string, number][] = [
      ['30s', 30_000],
      ['1m30s', 90_000],
      ['1.5h', 5_400_000],
      ['300ms', 300],
      ['2h45m', 9_900_000],
      ['0', 0],
      ['+5s', 5000],
      ['1000us', 1],
      ['.5s', 500],
    ];
    for (const [text, ms] of good)
      it(`${text} = ${ms} ms`, () => expect(parseGoDuration(text)).to.deep.equal({ ok: true, value: ms }));
    const bad: [string, string][] = [
      ['30', 'no unit'],
      ['', 'empty'],
      ['-5s', 'negative'],
      ['5x', 'not a number with a unit'],
      ['5s3', 'not a number with a unit'],
      ['s', 'not a number with a unit'],
      ['+', 'no number'],
    ];
    for (const [text, why] of bad) {
      it(`refuses ${JSON.stringify(text)} (${why})`, () => {
        const r = parseGoDuration(text);
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.why).to.contain(why);
      });
    }
  });

  it('parseSecondsOrDuration: fleet float seconds or durations, > 0', () => {
    expect(parseSecondsOrDuration('1.0')).to.deep.equal({ ok: true, value: 1000 });
    expect(parseSecondsOrDuration('0.25')).to.deep.equal({ ok: true, value: 250 });
    expect(parseSecondsOrDuration('1500ms')).to.deep.equal({ ok: true, value: 1500 });
    expect(parseSecondsOrDuration('0').ok).to.equal(false);
    expect(parseSecondsOrDuration('abc').ok).to.equal(false);
    expect(parseSecondsOrDuration('1e3').ok).to.equal(false);
  });

  it('parseLeaseTtl: whole seconds, at least the minimum', () => {
    expect(parseLeaseTtl('30s', 2)).to.deep.equal({ ok: true, value: 30 });
    expect(parseLeaseTtl('1m', 2)).to.deep.equal({ ok: true, value: 60 });
    expect(parseLeaseTtl('15', 2)).to.deep.equal({ ok: true, value: 15 });
    const frac = parseLeaseTtl('2500ms', 2);
    expect(frac.ok === false && frac.why).to.contain('whole number of seconds');
    const short = parseLeaseTtl('1s', 2);
    expect(short.ok === false && short.why).to.contain('shortest lease');
  });

  it('parseBool: exactly Go strconv.ParseBool', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True'])
      expect(parseBool(t)).to.deep.equal({ ok: true, value: true });
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False'])
      expect(parseBool(f)).to.deep.equal({ ok: true, value: false });
    for (const x of ['yes', 'no', 'tRuE', '2', '']) expect(parseBool(x).ok).to.equal(false);
  });

  it('parseKeyPrefix: starts with /, gets a trailing /', () => {
    expect(parseKeyPrefix('/fleet')).to.deep.equal({ ok: true, value: '/fleet/' });
    expect(parseKeyPrefix('/_coreos.com/fleet/')).to.deep.equal({ ok: true, value: '/_coreos.com/fleet/' });
    expect(parseKeyPrefix('fleet/').ok).to.equal(false);
    expect(parseKeyPrefix('/a b/').ok).to.equal(false);
  });

  describe('parseEndpoints', () => {
    const good: [string, string[]][] = [
      ['http://127.0.0.1:2379', ['http://127.0.0.1:2379']],
      [' http://a:2379 , http://b:2379/ ', ['http://a:2379', 'http://b:2379']],
      ['["https://192.0.2.12:2379"]', ['https://192.0.2.12:2379']],
      ['http://[::1]:2379', ['http://[::1]:2379']],
      ['http://h:80', ['http://h:80']],
    ];
    for (const [text, want] of good)
      it(`reads ${text}`, () => expect(parseEndpoints(text)).to.deep.equal({ ok: true, value: want }));
    const bad: [string, string][] = [
      ['', 'no endpoint'],
      ['127.0.0.1:2379', 'not http'],
      ['http://a', 'no port'],
      ['http://a:2379/v2', 'has a path'],
      ['http://u:p@a:2379', 'user info'],
      ['http://a:2379,https://b:2379', 'mixes'],
      ['ftp://a:21', 'not http'],
      ['[1,2]', 'JSON list of strings'],
      ['[oops', 'JSON list'],
      ['http://a b:1', 'not a URL'],
    ];
    for (const [text, why] of bad) {
      it(`refuses ${JSON.stringify(text)} (${why})`, () => {
        const r = parseEndpoints(text);
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.why).to.contain(why);
      });
    }
  });
});

describe('lib/metadata', () => {
  it('reads fleet syntax: trims around = and commas, last value wins with a warning', () => {
    const m = parseMetadata(' region = us-west ,az=us-west-1,\tdisk=ssd , region=eu-1,');
    expect(m.metadata).to.deep.equal({ region: 'eu-1', az: 'us-west-1', disk: 'ssd' });
    expect(m.problems).to.deep.equal([]);
    expect(m.warnings).to.have.length(1);
    expect(m.warnings[0]).to.contain('"region"').and.contain('eu-1');
  });

  it('empty metadata is none', () => {
    expect(parseMetadata('')).to.deep.equal({ metadata: {}, problems: [], warnings: [] });
  });

  const bad: [string, string][] = [
    ['region', 'not key=value'],
    ['=x', 'key is empty'],
    ['region=', 'value is empty'],
    ['re gion=x', 'key "re gion"'],
    ['_hidden=x', 'starts with'],
    ['region=us west', 'value "us west"'],
    ['ram=>=2048', 'value ">=2048"'],
    ['a=b=c', 'value "b=c"'],
    ['name="x"', 'value'],
    [`k=${'v'.repeat(257)}`, 'longer than 256'],
    [`${'k'.repeat(129)}=v`, 'longer than 128'],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${JSON.stringify(text.slice(0, 30))} (${why})`, () => {
      const m = parseMetadata(`ok=1,${text}`);
      expect(m.problems).to.have.length(1);
      expect(m.problems[0]).to.contain(why);
      expect(m.metadata).to.deep.equal({ ok: '1' });
    });
  }

  it('validateMetadataKey/Value accept what a MachineMetadata line can match', () => {
    for (const k of ['region', 'az', 'a.b', 'rack-1', 'Disk_Type', '0x'])
      expect(validateMetadataKey(k)).to.equal(undefined);
    for (const v of ['us-west-1', '10.0.0.1', 'ssd', 'a:b', 'a/b', 'x@y', '1+2', '~']) {
      expect(validateMetadataValue(v)).to.equal(undefined);
    }
  });
});

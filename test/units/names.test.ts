import { expect } from 'chai';
import fc from 'fast-check';
import {
  escapeName,
  escapePath,
  instanceName,
  instanceOf,
  InvalidUnitNameError,
  isInstance,
  isTemplate,
  isValidUnitName,
  parseUnitName,
  prefixOf,
  templateOf,
  unescapeName,
  unescapePath,
  UnitEscapeError,
  unitNameProblem,
  validateUnitName,
} from '../../units/names.js';

describe('units/names', () => {
  describe('validation (systemd unit_name_is_valid)', () => {
    const valid = [
      'hello.service',
      'a.socket',
      'foo@.service',
      'foo@bar.service',
      'foo@bar@baz.service',
      'foo.bar.service',
      'dev-sda1.device',
      'mnt-data.mount',
      'proc-sys-fs-binfmt_misc.automount',
      'swapfile.swap',
      'multi-user.target',
      'backup.path',
      'backup.timer',
      'system-web.slice',
      'session-1.scope',
      'foo\\x2dbar.service',
      'a:b_c.service',
      '.hidden.service',
      'x'.repeat(247) + '.service', // 255 characters
    ];
    for (const name of valid) {
      it(`accepts ${name.length > 40 ? name.slice(0, 20) + '...' : name}`, () => {
        expect(unitNameProblem(name)).to.equal(null);
        expect(isValidUnitName(name)).to.equal(true);
      });
    }

    const invalid: Array<[string, RegExp]> = [
      ['', /empty/],
      ['x'.repeat(248) + '.service', /256 characters long; systemd allows at most 255/],
      ['hello', /no type suffix/],
      ['hello.', /unknown unit type "\."/],
      ['.service', /empty/],
      ['hello.txt', /unknown unit type "\.txt"/],
      ['hello.busname', /unknown unit type/],
      ['hello.Service', /unknown unit type/],
      ['a/b.service', /contains "\/"/],
      ['../etc.service', /contains "\/"/],
      ['a..service', /contains "\.\."/],
      ['foo bar.service', /character " " is not allowed/],
      ['föo.service', /character "ö" is not allowed/],
      ['foo%i.service', /character "%" is not allowed/],
      ['@foo.service', /starts with "@"/],
      ['@.service', /starts with "@"/],
    ];
    for (const [name, why] of invalid) {
      it(`refuses ${JSON.stringify(name.length > 40 ? name.slice(0, 20) + '...' : name)} with a reason`, () => {
        expect(unitNameProblem(name)).to.match(why);
        const err = (() => {
          try {
            validateUnitName(name);
          } catch (e) {
            return e;
          }
          return null;
        })();
        expect(err).to.be.instanceOf(InvalidUnitNameError);
        expect((err as InvalidUnitNameError).message).to.contain(JSON.stringify(name));
        expect((err as InvalidUnitNameError).unitName).to.equal(name);
      });
    }
  });

  describe('parts of a name', () => {
    it('plain', () => {
      expect(parseUnitName('web.service')).to.deep.equal({
        fullName: 'web.service',
        name: 'web',
        prefix: 'web',
        instance: '',
        suffix: 'service',
        kind: 'plain',
        template: null,
      });
    });
    it('template', () => {
      const info = parseUnitName('web@.socket');
      expect(info.kind).to.equal('template');
      expect(info.prefix).to.equal('web');
      expect(info.instance).to.equal('');
      expect(info.template).to.equal('web@.socket');
    });
    it('instance: from the first @ to the last dot', () => {
      const info = parseUnitName('web@a.b@c.service');
      expect(info.kind).to.equal('instance');
      expect(info.prefix).to.equal('web');
      expect(info.instance).to.equal('a.b@c');
      expect(info.name).to.equal('web@a.b@c');
      expect(info.template).to.equal('web@.service');
    });
    it('helpers', () => {
      expect(isTemplate('foo@.service')).to.equal(true);
      expect(isTemplate('foo@1.service')).to.equal(false);
      expect(isTemplate('foo.service')).to.equal(false);
      expect(isTemplate('@.service')).to.equal(false);
      expect(isInstance('foo@1.service')).to.equal(true);
      expect(isInstance('foo@.service')).to.equal(false);
      expect(instanceOf('foo@1.service')).to.equal('1');
      expect(instanceOf('foo@.service')).to.equal(null);
      expect(instanceOf('foo.service')).to.equal(null);
      expect(instanceOf('not a name')).to.equal(null);
      expect(templateOf('foo@1.service')).to.equal('foo@.service');
      expect(templateOf('foo@.service')).to.equal('foo@.service');
      expect(templateOf('foo.service')).to.equal(null);
      expect(prefixOf('foo@1.service')).to.equal('foo');
      expect(prefixOf('foo.service')).to.equal('foo');
      expect(() => prefixOf('foo')).to.throw(InvalidUnitNameError);
      expect(instanceName('foo@.service', 'x1')).to.equal('foo@x1.service');
      expect(() => instanceName('foo.service', 'x1')).to.throw(InvalidUnitNameError, /not a template/);
      expect(() => instanceName('foo@.service', 'a b')).to.throw(InvalidUnitNameError, /" "/);
    });
  });

  describe('escaping (systemd-escape)', () => {
    const table: Array<[string, string]> = [
      ['', ''],
      ['foo', 'foo'],
      ['foo/bar', 'foo-bar'],
      ['foo-bar', 'foo\\x2dbar'],
      ['a b', 'a\\x20b'],
      ['.dot', '\\x2edot'],
      ['a.dot', 'a.dot'],
      ['back\\slash', 'back\\x5cslash'],
      ['at@sign', 'at\\x40sign'],
      ['ü', '\\xc3\\xbc'],
      ['a:b_c', 'a:b_c'],
      ['/', '-'],
    ];
    for (const [raw, escaped] of table) {
      it(`escapeName(${JSON.stringify(raw)}) = ${escaped}`, () => {
        expect(escapeName(raw)).to.equal(escaped);
        expect(unescapeName(escaped)).to.equal(raw);
      });
    }

    it('unescape accepts upper-case hex and refuses bad escapes', () => {
      expect(unescapeName('a\\x2Db')).to.equal('a-b'.replace('-', '-'));
      expect(() => unescapeName('a\\y20')).to.throw(UnitEscapeError, /only "\\xNN"/);
      expect(() => unescapeName('a\\x2')).to.throw(UnitEscapeError);
      expect(() => unescapeName('a\\')).to.throw(UnitEscapeError);
      expect(() => unescapeName('\\xff')).to.throw(UnitEscapeError, /UTF-8/);
    });

    const paths: Array<[string, string]> = [
      ['/', '-'],
      ['//', '-'],
      ['/dev/sda1', 'dev-sda1'],
      ['/mnt/my data/', 'mnt-my\\x20data'],
      ['/var//lib/./x', 'var-lib-x'],
      ['/home/.cache', 'home-.cache'],
      ['/.cache', '\\x2ecache'],
      ['/foo-bar', 'foo\\x2dbar'],
    ];
    for (const [raw, escaped] of paths) {
      it(`escapePath(${JSON.stringify(raw)}) = ${escaped}`, () => {
        expect(escapePath(raw)).to.equal(escaped);
      });
    }
    it('path mode refuses "..", empty paths, and unescapes to absolute normalized paths', () => {
      expect(() => escapePath('/a/../b')).to.throw(UnitEscapeError, /"\.\."/);
      expect(() => escapePath('')).to.throw(UnitEscapeError, /empty/);
      expect(unescapePath('-')).to.equal('/');
      expect(unescapePath('dev-sda1')).to.equal('/dev/sda1');
      expect(() => unescapePath('')).to.throw(UnitEscapeError);
      expect(() => unescapePath('a--b')).to.throw(UnitEscapeError, /not a normalized path/);
      expect(() => unescapePath('-a')).to.throw(UnitEscapeError, /not a normalized path/);
    });

    it('round trip: unescapeName(escapeName(s)) = s for any string', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
          const escaped = escapeName(s);
          expect(escaped).to.match(/^[a-zA-Z0-9:_.\\-]*$/);
          expect(unescapeName(escaped)).to.equal(s);
        }),
        { numRuns: 500 },
      );
    });

    it('round trip: an escaped name is a valid instance, and paths come back normalized', () => {
      const segment = fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
        .filter((s) => !s.includes('/') && s !== '.' && s !== '..' && !s.includes('\0'));
      fc.assert(
        fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments) => {
          const path = '/' + segments.join('/');
          const escaped = escapePath(path);
          expect(unescapePath(escaped)).to.equal(path);
          const name = `mnt@${escaped}.mount`;
          if (name.length <= 255 && !name.includes('..')) expect(isValidUnitName(name)).to.equal(true);
        }),
        { numRuns: 300 },
      );
    });
  });
});

import { expect } from 'chai';
import { InvalidUnitNameError } from '../../units/names.js';
import { expandSpecifiers, specifiersIn } from '../../units/specifiers.js';

describe('units/specifiers', () => {
  const table: Array<[string, string, string, string[]]> = [
    // value, unit name, expected, unsupported
    ['%n', 'foo@bar.service', 'foo@bar.service', []],
    ['%N', 'foo@bar.service', 'foo@bar', []],
    ['%p', 'foo@bar.service', 'foo', []],
    ['%i', 'foo@bar.service', 'bar', []],
    ['%p.socket', 'web.service', 'web.socket', []],
    ['%i', 'web.service', '', []],
    ['%p@%i.socket', 'web@8080.service', 'web@8080.socket', []],
    ['100%%', 'web.service', '100%', []],
    ['%%i', 'web@1.service', '%i', []],
    ['%%%i', 'web@1.service', '%1', []],
    ['%m-%H', 'web.service', '%m-%H', ['%m', '%H']],
    ['%I', 'web@a\\x2db.service', '%I', ['%I']],
    ['50%', 'web.service', '50%', []],
    ['no specifiers', 'web.service', 'no specifiers', []],
    ['%i', 'mnt@dev-sda1.service', 'dev-sda1', []],
  ];
  for (const [value, name, expected, unsupported] of table) {
    it(`${JSON.stringify(value)} for ${name} -> ${JSON.stringify(expected)}`, () => {
      const r = expandSpecifiers(value, name);
      expect(r.value).to.equal(expected);
      expect(r.unsupported).to.deep.equal(unsupported);
    });
  }

  it('an expanded value is not expanded again', () => {
    // Names cannot contain "%", so this is about "%%" producing "%" followed by a letter.
    expect(expandSpecifiers('%%n%n', 'a.service').value).to.equal('%na.service');
  });

  it('needs a valid unit name', () => {
    expect(() => expandSpecifiers('%n', 'nope')).to.throw(InvalidUnitNameError);
  });

  it('lists the specifiers in a value', () => {
    expect(specifiersIn('%p-%i-%%-%p-%')).to.deep.equal(['%p', '%i', '%%']);
  });
});

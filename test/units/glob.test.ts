import { expect } from 'chai';
import fc from 'fast-check';
import { globMatch, globProblem } from '../../units/glob.js';

describe('units/glob (Go path.Match)', () => {
  const table: Array<[string, string, boolean]> = [
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['*', 'anything.service', true],
    ['*', '', true],
    ['web*', 'web@1.service', true],
    ['web*', 'api.service', false],
    ['*.service', 'web.socket', false],
    ['web@*.service', 'web@1.service', true],
    ['web@*.service', 'web@.service', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a?c', 'a/c', false],
    ['a*c', 'a/c', false],
    ['[abc].service', 'b.service', true],
    ['[abc].service', 'd.service', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['[^a-c]x', 'dx', true],
    ['[\\]]', ']', true],
    ['[\\-]', '-', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['web\\@1.service', 'web@1.service', true],
    ['[z-a]', 'm', false],
    ['monitor*', 'monitor.service', true],
    ['*@%i.service', 'x@%i.service', true],
  ];
  for (const [pattern, name, expected] of table) {
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => {
      expect(globMatch(pattern, name)).to.equal(expected);
      expect(globProblem(pattern)).to.equal(null);
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['[', /unterminated/],
    ['[abc', /unterminated/],
    ['[]', /"\]"/],
    ['[]a]', /"\]"/],
    ['[a-]', /"\]"/],
    ['[-a]', /"-"/],
    ['abc\\', /escapes nothing/],
    ['[\\', /end of a character class/],
    ['[a', /unterminated/],
  ];
  for (const [pattern, why] of bad) {
    it(`${JSON.stringify(pattern)} is a bad pattern that matches nothing`, () => {
      expect(globProblem(pattern)).to.match(why);
      expect(globMatch(pattern, pattern)).to.equal(false);
      expect(globMatch(pattern, '')).to.equal(false);
    });
  }

  it('agrees with a regular-expression reference on random patterns and names', () => {
    // Each generated piece is [glob, equivalent regular expression].
    const alphabet: Array<[string, string]> = ['a', 'b', '.', '@', '/', '-'].map((c) => [
      c,
      /\w/.test(c) ? c : '\\' + c,
    ]);
    const piece = fc.constantFrom<[string, string]>(
      ...alphabet,
      ['*', '[^/]*'],
      ['?', '[^/]'],
      ['[ab]', '[ab]'],
      ['[^a]', '[^a]'],
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 8 }),
        fc.array(fc.constantFrom(...alphabet.map(([c]) => c)), { maxLength: 10 }).map((a) => a.join('')),
        (pieces, name) => {
          const pattern = pieces.map(([g]) => g).join('');
          const reference = new RegExp('^' + pieces.map(([, r]) => r).join('') + '$');
          expect(globMatch(pattern, name), `${pattern} vs ${name}`).to.equal(reference.test(name));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

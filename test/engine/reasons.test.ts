import { expect } from 'chai';
import { reasonsChanges } from '../../engine/reasons.js';

describe('engine/reasons', () => {
  const now = Date.parse('2026-11-25T15:00:00Z');
  it('puts new or changed reasons, keeps unchanged ones, deletes those of units now placed', () => {
    const recorded = new Map([
      ['same.service', { unit: 'same.service', reasons: ['r1'], since: 'x' }],
      ['changed.service', { unit: 'changed.service', reasons: ['old'] }],
      ['placed.service', { unit: 'placed.service', reasons: ['r'] }],
    ]);
    const changes = reasonsChanges(
      recorded,
      [
        { unit: 'same.service', reasons: ['r1'] },
        { unit: 'changed.service', reasons: ['new'] },
        { unit: 'new.service', reasons: ['n'] },
      ],
      now,
    );
    expect(changes).to.deep.equal([
      {
        type: 'put',
        record: { unit: 'changed.service', reasons: ['new'], since: '2026-11-25T15:00:00.000Z' },
      },
      { type: 'put', record: { unit: 'new.service', reasons: ['n'], since: '2026-11-25T15:00:00.000Z' } },
      { type: 'delete', unit: 'placed.service' },
    ]);
  });
});

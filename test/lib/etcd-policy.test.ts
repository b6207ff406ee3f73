import { expect } from 'chai';
import {
  EtcdAuthenticationFailedError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
} from 'etcd3';
import { shouldRetry } from '../../lib/etcd-policy.js';
import { etcdErrorFrom, tagEndpoint } from '../../lib/etcd-errors.js';

describe('lib/etcd-policy shouldRetry', () => {
  const read = { service: 'KV', method: 'range' };
  const write = { service: 'KV', method: 'txn' };
  const refused =
    '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1';
  const dropped = '14 UNAVAILABLE: Connection dropped';
  const table: [string, Error, { service: string; method: string } | undefined, boolean][] = [
    ['read, refused', new GRPCUnavailableError(refused), read, true],
    ['write, refused (never sent)', new GRPCUnavailableError(refused), write, true],
    ['read, dropped', new GRPCUnavailableError(dropped), read, true],
    ['write, dropped (may be applied)', new GRPCUnavailableError(dropped), write, false],
    ['read, deadline', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), read, true],
    ['write, deadline (may be applied)', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), write, false],
    ['unknown call, deadline', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), undefined, false],
    ['write, too many requests', new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED'), write, true],
    ['read, internal', new GRPCInternalError('13 INTERNAL'), read, false],
    [
      'read, bad password',
      new EtcdAuthenticationFailedError('etcdserver: authentication failed'),
      read,
      false,
    ],
  ];
  for (const [name, err, call, want] of table) {
    it(`${name} -> ${want ? 'retry' : 'give up'}`, () => expect(shouldRetry(err, call)).to.equal(want));
  }
});

describe('lib/etcd-errors etcdErrorFrom', () => {
  const endpoints = ['http://a:2379', 'http://b:2379'];

  it('names the endpoint an error was tagged with', () => {
    const raw = new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
    tagEndpoint(raw, 'http://b:2379');
    const err = etcdErrorFrom(raw, { endpoints, requestTimeoutMs: 1000, operation: 'read /fleet/units/' });
    expect(err.code).to.equal('ETCD_DEADLINE');
    expect(err.retryable).to.equal(true);
    expect(err.message)
      .to.contain('etcd at http://b:2379')
      .and.contain('1000 ms')
      .and.contain('read /fleet/units/');
    expect(err.cause).to.equal(raw);
  });

  it('names every endpoint when none is known', () => {
    const err = etcdErrorFrom(new GRPCInternalError('13 INTERNAL: boom'), { endpoints });
    expect(err.code).to.equal('ETCD_REQUEST_FAILED');
    expect(err.retryable).to.equal(true);
    expect(err.message).to.contain('http://a:2379, http://b:2379').and.contain('boom');
  });

  it('a plain Error is a non-retryable request failure', () => {
    const err = etcdErrorFrom(new Error('weird'), { endpoints });
    expect(err.code).to.equal('ETCD_REQUEST_FAILED');
    expect(err.retryable).to.equal(false);
  });
});

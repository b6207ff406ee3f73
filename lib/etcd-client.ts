/**
 * The ONE way to build an etcd3 client in fleet-ts, from the configuration (lib/config.ts):
 * several endpoints, TLS (CA, client certificate), username/password, a deadline on every
 * unary request (etcd_request_timeout), and the retry/failover/backoff policy of etcd-policy.ts.
 *
 *   const client = createEtcdClient(config);          // sync; throws EtcdClientError on bad TLS files
 *   const client = await connectEtcd(config);          // same, then one probe request
 *   try { ... } catch (e) { throw etcdError(e, config, 'read units') }   // typed, names the endpoint
 */
import { readFileSync } from 'node:fs';
import { Etcd3, type CallContext, type IOptions } from 'etcd3';
import { EtcdClientError, etcdErrorFrom } from './etcd-errors.js';
import type { FleetError } from './errors.js';
import { errorMessage } from './errors.js';
import { defaultPolicyOptions, faultHandling, noteCall, type EtcdPolicyOptions } from './etcd-policy.js';

export { EtcdClientError, type EtcdErrorCode } from './etcd-errors.js';

/** The part of the fleet configuration the client needs (FleetConfig satisfies it). */
export interface EtcdClientConfig {
  /** http:// or https:// URLs, all with the same scheme. */
  etcdServers: readonly string[];
  etcdCaFile?: string | undefined;
  etcdCertFile?: string | undefined;
  etcdKeyFile?: string | undefined;
  etcdUsername?: string | undefined;
  etcdPassword?: string | undefined;
  /** Deadline of each unary request (not watches or lease keep-alives). */
  etcdRequestTimeoutMs: number;
  /** Probed by connectEtcd (default "/"). */
  etcdKeyPrefix?: string;
}

export interface EtcdClientOptions {
  /** Override parts of the retry/backoff policy (tests use short delays). */
  policy?: Partial<EtcdPolicyOptions>;
  /** Reads the TLS files (default fs.readFileSync). */
  readFile?: (path: string) => Buffer;
}

interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

const TLS_OPTIONS = [
  ['ca', 'etcd_cafile', 'etcdCaFile'],
  ['cert', 'etcd_certfile', 'etcdCertFile'],
  ['key', 'etcd_keyfile', 'etcdKeyFile'],
] as const;

/** Reads every configured TLS file; all problems are reported in one error naming each file. */
function readTlsFiles(cfg: EtcdClientConfig, readFile: (path: string) => Buffer = readFileSync): TlsFiles {
  const out: TlsFiles = {};
  const problems: string[] = [];
  for (const [slot, option, field] of TLS_OPTIONS) {
    const path = cfg[field];
    if (!path) continue;
    let data: Buffer;
    try {
      data = readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(`${option} ${path}: cannot read it (${code ?? errorMessage(e)})`);
      continue;
    }
    if (!data.toString('latin1').includes('-----BEGIN ')) {
      problems.push(`${option} ${path}: not a PEM file (no "-----BEGIN" line)`);
      continue;
    }
    out[slot] = data;
  }
  if (problems.length > 0) {
    throw new EtcdClientError(
      'ETCD_TLS_FILE',
      `cannot use the etcd TLS files: ${problems.join('; ')}; point the option at a readable PEM file`,
    );
  }
  return out;
}

/**
 * gRPC's largest response the client accepts. grpc-js defaults to 4 MiB, which a listing of a few
 * thousand unit files exceeds; registry listings page well under this.
 */
export const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/**
 * How much etcd may send on one stream (and the connection) before the client reads it: HTTP/2's
 * flow-control window. grpc-js's default of 64 KiB holds ~200 events of a watch: a client busy for
 * a few ms (the engine planning) stops etcd's sending, etcd then counts the watcher as slow and
 * catches it up only every 100 ms, from its disk, at more CPU. 16 MiB lets etcd go on sending while
 * the client works; it is read as soon as the client is free (memory is held only meanwhile).
 */
export const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;

/** The etcd3 options for a configuration (TLS material already read). Pure. */
function etcd3Options(cfg: EtcdClientConfig, tls: TlsFiles, policy: EtcdPolicyOptions): IOptions {
  const timeoutMs = cfg.etcdRequestTimeoutMs;
  const options: IOptions = {
    hosts: [...cfg.etcdServers],
    defaultCallOptions: (ctx: CallContext) => {
      noteCall(ctx);
      return ctx.isStream ? {} : { deadline: Date.now() + timeoutMs };
    },
    faultHandling: faultHandling(policy),
    grpcOptions: {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
    },
  };
  if (tls.ca || tls.cert || tls.key) {
    // Without a CA file the system's trusted roots verify etcd (grpc takes null for that).
    options.credentials = {
      rootCertificate: tls.ca ?? (null as unknown as Buffer),
      ...(tls.key ? { privateKey: tls.key } : {}),
      ...(tls.cert ? { certChain: tls.cert } : {}),
    };
  }
  if (cfg.etcdUsername) {
    options.auth = { username: cfg.etcdUsername, password: cfg.etcdPassword ?? '' };
  }
  return options;
}

/**
 * Builds the client. Does not talk to etcd yet (etcd3 connects on first use). Throws
 * EtcdClientError (ETCD_TLS_FILE / ETCD_TLS) naming the file(s) when TLS material is unusable.
 */
export function createEtcdClient(cfg: EtcdClientConfig, opts: EtcdClientOptions = {}): Etcd3 {
  if (cfg.etcdServers.length === 0) {
    throw new EtcdClientError('ETCD_UNAVAILABLE', 'no etcd endpoint configured; set etcd_servers');
  }
  const tls = readTlsFiles(cfg, opts.readFile);
  const policy = { ...defaultPolicyOptions(cfg.etcdServers.length), ...opts.policy };
  try {
    return new Etcd3(etcd3Options(cfg, tls, policy));
  } catch (e) {
    // Node's TLS layer rejects a certificate/key pair that does not match, at construction.
    throw new EtcdClientError(
      'ETCD_TLS',
      `cannot use etcd_certfile ${cfg.etcdCertFile ?? '(none)'} with etcd_keyfile ${cfg.etcdKeyFile ?? '(none)'}` +
        ` and etcd_cafile ${cfg.etcdCaFile ?? '(none)'}: ${errorMessage(e)}; check that the key belongs to the certificate`,
      { cause: e },
    );
  }
}

/**
 * Builds the client and makes one read (of the key prefix) so that a wrong address, CA,
 * certificate or password fails here, with a typed error naming the endpoint, instead of at the
 * first real request. The client is closed if the probe fails.
 */
export async function connectEtcd(cfg: EtcdClientConfig, opts: EtcdClientOptions = {}): Promise<Etcd3> {
  const client = createEtcdClient(cfg, opts);
  try {
    await client.get(cfg.etcdKeyPrefix ?? '/').exists();
    return client;
  } catch (e) {
    client.close();
    throw etcdError(e, cfg, 'the first request (connection check)');
  }
}

/** Converts what an etcd3 call threw into a typed FleetError naming the endpoint and what to do. */
export function etcdError(err: unknown, cfg: EtcdClientConfig, operation?: string): FleetError {
  return etcdErrorFrom(err, {
    endpoints: cfg.etcdServers,
    requestTimeoutMs: cfg.etcdRequestTimeoutMs,
    ...(operation ? { operation } : {}),
    ...(cfg.etcdUsername ? { username: cfg.etcdUsername } : {}),
  });
}

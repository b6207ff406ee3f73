/**
 * fleetd's life: configuration -> etcd -> schema check -> API listeners -> components -> READY;
 * SIGHUP -> reload; SIGTERM -> STOPPING, components stopped in reverse, listeners closed, etcd
 * closed. One log line per event.
 */
import { ParseCache } from '../engine/unit-info.js';
import { readFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import type { FleetConfig } from '../lib/config.js';
import { connectEtcd } from '../lib/etcd-client.js';
import { errorMessage } from '../lib/errors.js';
import { readMachineId } from '../lib/machine-id.js';
import { createLogger, type LogFields, type Logger, type LogLevel } from '../lib/log.js';
import { Registry, registryOptionsFrom } from '../lib/registry/index.js';
import type { PeerTls } from './api/peer.js';
import { createApi, type Api } from './api/server.js';
import type { Component, ComponentFactory } from './component.js';
import { DEFAULT_COMPONENTS } from './components.js';
import { listenerSettings, openListeners, type Listener, type Listeners } from './listeners.js';
import { MetricsRegistry } from './metrics.js';
import { createNotifier, type Notifier } from './notify.js';
import { VERSION } from './version.js';

export interface LoadedConfig {
  config: FleetConfig;
  warnings: string[];
  file?: string;
}

export interface FleetdOptions {
  /** Reads the configuration (again on each reload); throws ConfigError. */
  loadConfig: () => LoadedConfig;
  components?: readonly ComponentFactory[];
  env?: NodeJS.ProcessEnv;
  pid?: number;
  notifier?: Notifier;
  /** Receives each log line (default stderr). */
  write?: (line: string) => void;
}

/** A logger whose verbosity follows the reloaded configuration. */
class SwitchableLogger implements Logger {
  constructor(
    private readonly current: () => Logger,
    private readonly component?: string,
  ) {}
  private l(): Logger {
    return this.component ? this.current().child(this.component) : this.current();
  }
  error(m: string, f?: LogFields) {
    this.l().error(m, f);
  }
  warn(m: string, f?: LogFields) {
    this.l().warn(m, f);
  }
  info(m: string, f?: LogFields) {
    this.l().info(m, f);
  }
  debug(m: string, f?: LogFields) {
    this.l().debug(m, f);
  }
  trace(m: string, f?: LogFields) {
    this.l().trace(m, f);
  }
  enabled(level: LogLevel) {
    return this.l().enabled(level);
  }
  child(component: string): Logger {
    return new SwitchableLogger(this.current, this.component ? `${this.component}/${component}` : component);
  }
}

export class Fleetd {
  private config!: FleetConfig;
  private base: Logger;
  readonly log: Logger;
  private client: Etcd3 | undefined;
  private listeners: Listeners | undefined;
  private api: Api | undefined;
  private readonly running: { name: string; component: Component }[] = [];
  private readonly abort = new AbortController();
  private readonly notifier: Notifier;
  private stopped: Promise<void> | undefined;
  readonly metrics = new MetricsRegistry();

  constructor(private readonly opts: FleetdOptions) {
    this.base = createLogger({ component: 'fleetd', ...(opts.write ? { write: opts.write } : {}) });
    this.log = new SwitchableLogger(() => this.base);
    this.notifier =
      opts.notifier ??
      createNotifier({
        ...(opts.env ? { env: opts.env } : {}),
        onError: (m) => this.log.warn(m),
      });
  }

  private useConfig(loaded: LoadedConfig): void {
    this.config = loaded.config;
    this.base = createLogger({
      component: 'fleetd',
      verbosity: loaded.config.verbosity,
      ...(this.opts.write ? { write: this.opts.write } : {}),
    });
    for (const w of loaded.warnings) this.log.warn(w);
  }

  /** The API's listeners (empty before start). */
  get listenerList(): readonly Listener[] {
    return this.listeners?.list ?? [];
  }

  /** Everything up to READY. On failure, what was started is stopped again and the error thrown. */
  async start(): Promise<void> {
    try {
      this.useConfig(this.opts.loadConfig());
      const cfg = this.config;
      this.log.info('starting', {
        version: VERSION,
        etcd: cfg.etcdServers.join(','),
        prefix: cfg.etcdKeyPrefix,
      });
      this.client = await connectEtcd(cfg);
      // The engine reads [X-Fleet] from the parse the registry's check makes (one parse per unit).
      const parseCache = new ParseCache();
      const registry = new Registry(this.client, {
        ...registryOptionsFrom(cfg),
        checkUnitBody: parseCache.check,
        onInvalid: (r) => this.log.warn(r.message),
      });
      await registry.checkSchema();
      const machineId = readMachineId(cfg.machineIdFile);
      this.api = createApi({
        registry,
        tokenLimit: cfg.tokenLimit,
        log: this.log.child('api'),
        metrics: this.metrics,
        ...(machineId ? { machineId } : {}),
        peers: { tls: peerTls(cfg), timeoutMs: Math.max(cfg.etcdRequestTimeoutMs, 5000) },
      });
      this.listeners = await openListeners(cfg, this.api.handle, {
        ...(this.opts.env ? { env: this.opts.env } : {}),
        ...(this.opts.pid !== undefined ? { pid: this.opts.pid } : {}),
      });
      for (const l of this.listeners.list) this.log.info('API listening', { on: l.description });
      if (this.listeners.list.length === 0)
        this.log.warn('no API listener: none passed by systemd, none configured');
      for (const f of this.opts.components ?? DEFAULT_COMPONENTS) {
        if (f.role === 'engine' && cfg.disableEngine) {
          this.log.info('engine disabled (disable_engine)', { component: f.name });
          continue;
        }
        if (f.role === 'agent' && cfg.disableAgent) {
          this.log.info('agent disabled (disable_agent)', { component: f.name });
          continue;
        }
        const api = this.api;
        const component = f.create({
          config: cfg,
          client: this.client,
          registry,
          parseCache,
          log: this.log.child(f.name),
          metrics: this.metrics,
          setPlacementExplainer: (e) => api.setExplainer(e),
        });
        await component.start(this.abort.signal);
        this.running.push({ name: f.name, component });
        this.log.info('component started', { component: f.name });
      }
      await this.notifier.ready('serving');
      this.log.info('ready', { listeners: this.listeners.list.length, components: this.running.length });
    } catch (e) {
      await this.stop('start failed');
      throw e;
    }
  }

  /** SIGHUP: read the configuration again; keep the old one if the new one is invalid. */
  async reload(): Promise<boolean> {
    await this.notifier.reloading('reloading the configuration');
    let ok = false;
    try {
      const loaded = this.opts.loadConfig();
      const old = this.config;
      this.useConfig(loaded);
      const cfg = loaded.config;
      if (listenerSettings(old) !== listenerSettings(cfg)) {
        this.log.warn(
          'API listener options changed: they take effect at the next restart (listeners are kept)',
        );
      }
      if (
        JSON.stringify([
          old.etcdServers,
          old.etcdKeyPrefix,
          old.etcdCaFile,
          old.etcdCertFile,
          old.etcdKeyFile,
          old.etcdUsername,
        ]) !==
        JSON.stringify([
          cfg.etcdServers,
          cfg.etcdKeyPrefix,
          cfg.etcdCaFile,
          cfg.etcdCertFile,
          cfg.etcdKeyFile,
          cfg.etcdUsername,
        ])
      ) {
        this.log.warn('etcd options changed: they take effect at the next restart');
      }
      this.api?.setTokenLimit(cfg.tokenLimit);
      for (const r of this.running) {
        if (r.component.reload) {
          await r.component.reload(cfg);
          this.log.info('component reloaded', { component: r.name });
        }
      }
      this.log.info('configuration reloaded', { verbosity: cfg.verbosity, metadata: cfg.metadata });
      ok = true;
    } catch (e) {
      this.log.error(`reload failed; still running with the previous configuration: ${errorMessage(e)}`);
    }
    await this.notifier.ready(ok ? 'serving' : 'serving (last reload failed)');
    return ok;
  }

  /**
   * SIGTERM: idempotent. Stops every component; rejects afterwards if one did not stop cleanly, so
   * fleetd exits with an error and systemd runs its ExecStopPost (`fleetd fence`) as after a crash.
   */
  stop(why = 'stopping'): Promise<void> {
    this.stopped ??= (async () => {
      this.log.info(why);
      await this.notifier.stopping();
      this.abort.abort();
      const unclean: string[] = [];
      for (const r of [...this.running].reverse()) {
        try {
          await r.component.stop();
          this.log.info('component stopped', { component: r.name });
        } catch (e) {
          unclean.push(r.name);
          this.log.error('component did not stop cleanly', { component: r.name, error: errorMessage(e) });
        }
      }
      await this.listeners?.close();
      await this.api?.close();
      this.client?.close();
      this.log.info('stopped');
      if (unclean.length > 0) {
        throw new Error(`${unclean.join(', ')} did not stop cleanly (see above); exiting with an error`);
      }
    })();
    return this.stopped;
  }
}

/**
 * This fleetd's identity towards its peers' APIs (status/journal forwarding): its own TLS
 * certificate, key and CA, when all three are configured and readable.
 */
function peerTls(cfg: FleetConfig): PeerTls | undefined {
  if (!cfg.apiTlsCertFile || !cfg.apiTlsKeyFile || !cfg.apiTlsCaFile) return undefined;
  try {
    return {
      cert: readFileSync(cfg.apiTlsCertFile),
      key: readFileSync(cfg.apiTlsKeyFile),
      ca: readFileSync(cfg.apiTlsCaFile),
    };
  } catch {
    return undefined; // the listener reports unreadable files itself
  }
}

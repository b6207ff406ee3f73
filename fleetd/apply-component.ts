/**
 * fleetd's units directory (unit_source_directory, e.g. /etc/fleet/units.d): this fleetd keeps the
 * directory applied to the cluster with the same code and semantics as `fleetctl apply --prune
 * --watch` (lib/apply), as the source `fleetd:<machine id>:<path>`. Off when the option is empty.
 * Changes are logged once; a skipped file or a conflict is logged when it first appears.
 */
import {
  RegistryApplyTarget,
  applyFiles,
  fleetdSource,
  keepApplied,
  readSourceDirectory,
} from '../lib/apply/index.js';
import type { FleetConfig } from '../lib/config.js';
import { errorMessage } from '../lib/errors.js';
import { machineName } from '../lib/machine-id.js';
import type { Component, ComponentContext, ComponentFactory } from './component.js';

export interface ApplyComponentOptions {
  /** Quiet time after a change before applying (default 200 ms). */
  debounceMs?: number;
  /** Periodic full apply (default 60 s). */
  resyncMs?: number;
}

export class ApplyComponent implements Component {
  private running: { stop: AbortController; done: Promise<void> } | undefined;
  private dir: string | undefined;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly opts: ApplyComponentOptions = {},
  ) {}

  start(signal: AbortSignal): Promise<void> {
    this.begin(this.ctx.config, signal);
    return Promise.resolve();
  }

  async reload(config: FleetConfig): Promise<void> {
    if (config.unitSourceDirectory === this.dir) return;
    await this.stop();
    this.begin(config, undefined);
  }

  async stop(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    r?.stop.abort();
    await r?.done;
  }

  private begin(config: FleetConfig, signal: AbortSignal | undefined): void {
    this.dir = config.unitSourceDirectory;
    const dir = this.dir;
    if (dir === undefined) return;
    const { registry, log } = this.ctx;
    const stop = new AbortController();
    signal?.addEventListener('abort', () => stop.abort(), { once: true });
    const machineId = machineName(config.machineIdFile);
    const source = fleetdSource(machineId, dir);
    const target = new RegistryApplyTarget(registry, { signal: stop.signal });
    let lastProblems = new Set<string>();
    let lastWatchError: string | undefined;
    const once = async () => {
      const problems = new Set<string>();
      const out = {
        info: (l: string) => log.info(`units directory ${dir}: ${l}`),
        problem: (l: string) => {
          problems.add(l);
          if (!lastProblems.has(l)) log.warn(`units directory ${dir}: ${l}`);
        },
      };
      try {
        const files = readSourceDirectory(dir);
        await applyFiles(files, target, source, { prune: true, wait: false, showUnchanged: false }, out);
      } catch (e) {
        out.problem(`${errorMessage(e)} (retried at the next change or within a minute)`);
      }
      lastProblems = problems;
    };
    log.info(`units directory ${dir}: applying it to the cluster as source ${source}`);
    const done = keepApplied(dir, once, {
      signal: stop.signal,
      ...(this.opts.debounceMs !== undefined ? { debounceMs: this.opts.debounceMs } : {}),
      ...(this.opts.resyncMs !== undefined ? { resyncMs: this.opts.resyncMs } : {}),
      onWatchError: (m) => {
        if (m !== lastWatchError) log.warn(`units directory ${dir}: ${m}`);
        lastWatchError = m;
      },
    }).catch((e: unknown) => log.error(`units directory ${dir}: stopped: ${errorMessage(e)}`));
    this.running = { stop, done };
  }
}

export const applyComponent: ComponentFactory = {
  name: 'units-directory',
  role: 'other',
  create: (ctx) => new ApplyComponent(ctx),
};

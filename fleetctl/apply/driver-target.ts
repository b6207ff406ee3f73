/**
 * lib/apply's ApplyTarget over fleetctl's Driver, so `fleetctl apply` works with both drivers
 * (etcd: batched transactions; api: fleetd's HTTP API). Waiting is fleetctl's own blocking wait
 * (wait.ts), which prints `Unit NAME launched on MACHINE` as units arrive.
 */
import type { ApplyTarget, ClusterUnit, NewUnit } from '../../lib/apply/index.js';
import type { DesiredState, Driver } from '../driver.js';
import type { Output } from '../output.js';
import { waitForUnits } from '../wait.js';

export class DriverApplyTarget implements ApplyTarget {
  constructor(
    private readonly driver: Driver,
    private readonly out: Output,
    private readonly wait: { attempts: number; intervalMs: number },
  ) {}

  async listUnits(): Promise<ClusterUnit[]> {
    const units = await this.driver.listUnits();
    return units.map((u) => ({
      name: u.name,
      hash: u.hash,
      desiredState: u.desiredState,
      source: u.source,
      invalid: u.invalid,
    }));
  }

  submitUnits(units: readonly NewUnit[]): Promise<{ created: string[]; existing: string[] }> {
    return this.driver.submitUnits(units);
  }

  replaceUnit(u: NewUnit): Promise<void> {
    return this.driver.replaceUnit(u.name, u.body, { desiredState: u.desiredState, source: u.source });
  }

  setDesiredState(name: string, state: DesiredState): Promise<void> {
    return this.driver.setDesiredState(name, state);
  }

  destroyUnit(name: string): Promise<void> {
    return this.driver.destroyUnit(name);
  }

  async waitLaunched(names: readonly string[]): Promise<{ name: string; why: string }[]> {
    const late = await waitForUnits(this.driver, names, 'launched', this.wait, this.out);
    return late.map((name) => ({ name, why: 'it did not reach launched in time (see above)' }));
  }
}

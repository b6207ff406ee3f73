/**
 * load and start: lazily submit, set the desired state, then block until the units are there and
 * systemd agrees (or --no-block: print "Triggered unit X start"). Global units never block, as in
 * fleet.
 */
import type { Driver } from '../driver.js';
import { applyPlans, planUnits } from '../lazy.js';
import { ExitCode, type Output } from '../output.js';
import { waitForUnits } from '../wait.js';

export async function runTransition(
  driver: Driver,
  out: Output,
  args: readonly string[],
  opts: { command: 'load' | 'start'; replace: boolean; attempts: number; intervalMs: number },
): Promise<number> {
  const target = opts.command === 'load' ? 'loaded' : 'launched';
  const plans = await planUnits(
    args,
    driver,
    { command: opts.command, replace: opts.replace, refuseTemplates: true },
    out,
  );
  const changed = await applyPlans(plans, driver);
  for (const p of plans) if (p.action === 'create') out.stdout(`Unit ${p.name} inactive\n`);
  const wait: string[] = [];
  for (const p of plans) {
    const u = await driver.getUnit(p.name);
    if (!u) continue;
    const replaced = p.action === 'replace' && changed.includes(p.name);
    if (u.desiredState !== target) await driver.setDesiredState(p.name, target);
    else if (!replaced) continue;
    if (u.global) out.stdout(`Triggered global unit ${p.name} ${opts.command}\n`);
    else wait.push(p.name);
  }
  if (opts.attempts < 0) {
    for (const name of wait) out.stdout(`Triggered unit ${name} ${opts.command}\n`);
    return ExitCode.Ok;
  }
  const late = await waitForUnits(
    driver,
    wait,
    target,
    { attempts: opts.attempts, intervalMs: opts.intervalMs },
    out,
  );
  return late.length === 0 ? ExitCode.Ok : ExitCode.Failure;
}

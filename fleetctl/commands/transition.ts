/**
 * load and start: lazily submit, set the desired state, then block until the units are there and
 * systemd agrees (or --no-block: print "Triggered unit X start"). Global units never block, as in
 * fleet. New units are created already in the target state; every read and write is batched (a
 * number of round trips that does not grow with the units), see lazy.ts and the drivers.
 */
import type { DesiredState, Driver } from '../driver.js';
import { applyPlans, planUnits, type Plan } from '../lazy.js';
import { ExitCode, type Output } from '../output.js';
import { waitForUnits } from '../wait.js';

export interface TransitionSteps {
  /** Units whose desired state must still be set to the target. */
  set: string[];
  /** Global units triggered (never waited for), in argument order. */
  triggeredGlobal: string[];
  /** Units to wait for (or print "Triggered unit" for), in argument order. */
  wait: string[];
}

/**
 * What is left to do after the files are written, per argument. `created`: created already in the
 * target state; `raced`: created by someone else meanwhile (their state is unknown: set it).
 * Pure.
 */
export function transitionSteps(
  plans: readonly Plan[],
  target: DesiredState,
  written: { created: readonly string[]; replaced: readonly string[]; raced: readonly string[] },
): TransitionSteps {
  const steps: TransitionSteps = { set: [], triggeredGlobal: [], wait: [] };
  for (const p of plans) {
    const created = written.created.includes(p.name);
    const raced = written.raced.includes(p.name);
    const needsSet = raced || (!created && p.desiredState !== target);
    if (needsSet) steps.set.push(p.name);
    else if (!created && !written.replaced.includes(p.name)) continue;
    (p.global ? steps.triggeredGlobal : steps.wait).push(p.name);
  }
  return steps;
}

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
  const written = await applyPlans(plans, driver, target);
  for (const p of plans) if (p.action === 'create') out.stdout(`Unit ${p.name} inactive\n`);
  const steps = transitionSteps(plans, target, written);
  await driver.setDesiredStates(steps.set.map((name) => ({ name, state: target })));
  for (const name of steps.triggeredGlobal) out.stdout(`Triggered global unit ${name} ${opts.command}\n`);
  if (opts.attempts < 0) {
    for (const name of steps.wait) out.stdout(`Triggered unit ${name} ${opts.command}\n`);
    return ExitCode.Ok;
  }
  const late = await waitForUnits(
    driver,
    steps.wait,
    target,
    { attempts: opts.attempts, intervalMs: opts.intervalMs },
    out,
  );
  return late.length === 0 ? ExitCode.Ok : ExitCode.Failure;
}

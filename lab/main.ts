/**
 * fleet-lab: a cluster of real systemd machines on one host (see lab.ts). Every command takes
 * --name CLUSTER; the cluster's state lives in /run/fleet-lab/<name>/state.json.
 */
import { spawnSync } from 'node:child_process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LabError } from './errors.js';
import { DEFAULT_CLUSTER, Lab, parseMetadataFlag, type LabStatus } from './lab.js';
import { preflight } from './preflight.js';

function progress(line: string): void {
  process.stderr.write(`fleet-lab: ${line}\n`);
}

function fail(e: unknown): never {
  if (e instanceof LabError) {
    process.stderr.write(`fleet-lab: ${e.message}\n`);
  } else {
    process.stderr.write(`fleet-lab: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
  }
  process.exit(1);
}

function printStatus(s: LabStatus): void {
  const lines: string[] = [];
  lines.push(`cluster ${s.name} (${s.phase})  bridge ${s.bridge ?? '-'}  subnet ${s.subnet ?? '-'}`);
  lines.push('');
  lines.push(['MEMBER', 'ENDPOINT', 'PID', 'HEALTHY', 'LEADER'].join('\t'));
  for (const m of s.etcd) {
    lines.push(
      [m.name, m.endpoint, m.pid ?? '-', m.healthy ? 'yes' : 'no', m.leader ? 'yes' : ''].join('\t'),
    );
  }
  lines.push('');
  lines.push(['MACHINE', 'IP', 'PID1', 'SYSTEMD', 'LINK', 'FLEETD', 'METADATA'].join('\t'));
  for (const m of s.machines) {
    const md = Object.entries(m.metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    lines.push([m.name, m.ip, m.pid1 ?? '-', m.systemd, m.link, m.fleetd, md || '-'].join('\t'));
  }
  lines.push('');
  lines.push(s.exportLine);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Commands other than up/down/list act on a cluster that exists. */
function open(name: string): Lab {
  preflight('fleet-lab');
  return Lab.open(name);
}

const cli = yargs(hideBin(process.argv))
  .scriptName('fleet-lab')
  .usage(
    'fleet-lab: a cluster of real systemd machines on one host (root required)\n\nUsage: fleet-lab <command> [--name CLUSTER] [options]',
  )
  .parserConfiguration({ 'populate--': true })
  .option('name', {
    type: 'string',
    default: DEFAULT_CLUSTER,
    describe: 'cluster name (state in /run/fleet-lab/<name>/)',
  })
  .command(
    'up',
    'start etcd and N machines, print how to reach the cluster',
    (y) =>
      y
        .option('machines', { type: 'number', default: 3, describe: 'number of machines m1..mN' })
        .option('metadata', {
          type: 'string',
          array: true,
          default: [] as string[],
          describe: 'machine metadata, repeatable: mI:key=value,key=value',
        })
        .option('agent-ttl', { type: 'number', default: 30, describe: "fleet's agent_ttl, in seconds" })
        .option('engine-ttl', {
          type: 'number',
          describe: "fleet's engine_lease_ttl, in seconds (default: fleetd's)",
        })
        .option('etcd-members', { type: 'number', default: 1, choices: [1, 3], describe: 'etcd members' })
        .option('fleetd', {
          type: 'boolean',
          describe: 'run fleetd.service in each machine (default: when dist/fleetd/main.js exists)',
        }),
    async (argv) => {
      const metadata: Record<string, Record<string, string>> = {};
      for (const flag of argv.metadata) {
        const [m, md] = parseMetadataFlag(String(flag));
        metadata[m] = { ...metadata[m], ...md };
      }
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          progress(`interrupted (${sig}); \`fleet-lab down --name ${argv.name}\` removes what was made`);
          process.exit(130);
        });
      }
      const started = Date.now();
      const lab = await Lab.up({
        name: argv.name,
        machines: argv.machines,
        metadata,
        agentTtl: argv['agent-ttl'],
        ...(argv['engine-ttl'] !== undefined ? { engineTtl: argv['engine-ttl'] } : {}),
        etcdMembers: argv['etcd-members'],
        ...(argv.fleetd !== undefined ? { fleetd: argv.fleetd } : {}),
        log: progress,
      });
      progress(
        `cluster ${lab.name} up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${lab.machineNames().join(' ')}`,
      );
      if (!lab.state.machines.some((m) => m.fleetd)) {
        progress('no fleetd in the machines (dist/fleetd/main.js not built); etcd and systemd only');
      }
      process.stdout.write(`${lab.exportLine}\n`);
    },
  )
  .command('status', 'show the cluster: etcd members and machines', {}, async (argv) => {
    printStatus(await open(String(argv.name)).status());
  })
  .command('list', 'list the clusters on this host', {}, () => {
    for (const n of Lab.list()) process.stdout.write(`${n}\n`);
  })
  .command('down', 'remove everything the cluster made (works after a crash)', {}, async (argv) => {
    preflight('fleet-lab down');
    await Lab.down(String(argv.name), progress);
  })
  .command(
    'exec <machine> [cmd..]',
    'run a command inside a machine: fleet-lab exec m1 -- systemctl status',
    (y) => y.positional('machine', { type: 'string', demandOption: true }),
    (argv) => {
      const rest = (argv['--'] as string[] | undefined) ?? [];
      const cmd = [...((argv.cmd as string[] | undefined) ?? []).map(String), ...rest.map(String)];
      if (cmd.length === 0)
        throw new LabError('exec: no command given; e.g. fleet-lab exec m1 -- systemctl status');
      const lab = open(argv.name);
      const [nsenter = 'nsenter', ...args] = lab.execArgv(argv.machine, cmd);
      const r = spawnSync(nsenter, args, { stdio: 'inherit' });
      if (r.error) throw new LabError(`exec in ${argv.machine}: ${r.error.message}`);
      process.exitCode = r.status ?? 1;
    },
  )
  .command(
    'kill <machine>',
    "kill -9 the machine's fleetd",
    (y) => y.positional('machine', { type: 'string', demandOption: true }),
    async (argv) => {
      const pid = await open(argv.name).killFleetd(argv.machine);
      progress(`${argv.machine}: fleetd (PID ${pid} in the machine) killed with SIGKILL`);
    },
  )
  .command(
    'poweroff <machine>',
    'power the whole machine off',
    (y) => y.positional('machine', { type: 'string', demandOption: true }),
    async (argv) => {
      await open(argv.name).poweroff(argv.machine);
      progress(`${argv.machine}: powered off`);
    },
  )
  .command(
    'add-machine',
    'boot one more machine into the running cluster (joins with fleetd if the others run it)',
    (y) => y.option('metadata', { type: 'string', describe: 'its metadata: key=value,key=value' }),
    async (argv) => {
      let metadata: Record<string, string> = {};
      if (argv.metadata) {
        try {
          metadata = parseMetadataFlag(`m1:${argv.metadata}`)[1];
        } catch {
          throw new LabError(
            `add-machine --metadata "${argv.metadata}": expected key=value[,key=value...], e.g. role=web,disk=ssd`,
          );
        }
      }
      const name = await open(argv.name).addMachine({ metadata });
      progress(`${name}: running`);
    },
  )
  .command(
    'cut <machine>',
    'cut the machine off the network (its veth down)',
    (y) => y.positional('machine', { type: 'string', demandOption: true }),
    async (argv) => {
      await open(argv.name).cut(argv.machine);
      progress(`${argv.machine}: cut off`);
    },
  )
  .command(
    'heal <machine>',
    'plug a cut machine back in',
    (y) => y.positional('machine', { type: 'string', demandOption: true }),
    async (argv) => {
      await open(argv.name).heal(argv.machine);
      progress(`${argv.machine}: healed`);
    },
  )
  .command(
    'etcd-restart',
    'restart etcd members (all, --member K, or --member leader)',
    (y) =>
      y
        .option('member', { type: 'string', describe: 'member number 1..N, or "leader"' })
        .option('kill', { type: 'boolean', default: false, describe: 'kill -9 instead of a clean stop' })
        .option('down-for', {
          type: 'number',
          default: 0,
          describe: 'seconds to stay down before restarting',
        }),
    async (argv) => {
      let member: number | 'leader' | undefined;
      if (argv.member === 'leader') member = 'leader';
      else if (argv.member !== undefined) {
        member = Number(argv.member);
        if (!Number.isInteger(member))
          throw new LabError(`--member "${argv.member}": a number 1..N or "leader"`);
      }
      const restarted = await open(argv.name).etcdRestart(member, {
        kill9: argv.kill,
        downForMs: argv['down-for'] * 1000,
      });
      progress(`etcd restarted: ${restarted.join(' ')}`);
    },
  )
  .demandCommand(1, 'fleet-lab: give a command (fleet-lab --help lists them)')
  .strict()
  .help()
  .fail((msg, err) => {
    if (err) fail(err);
    process.stderr.write(`fleet-lab: ${msg}\n(fleet-lab --help lists the commands and options)\n`);
    process.exit(1);
  });

try {
  await cli.parseAsync();
} catch (e) {
  fail(e);
}

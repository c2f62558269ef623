/**
 * `npm run rehearsal -- up|status|down`: the multi-region topology of regions/ on this machine.
 * Each region runs in its own network namespace behind a router namespace that delays traffic
 * between regions (NFQUEUE + wan-delay), with two nodes, its own Redis and S3 server, and
 * Postgres: the primary in the home region, streaming replicas elsewhere. A bind9 GeoDNS
 * stand-in answers the global name with the nearest healthy region. Needs root. `partition A B`
 * drops every packet between two regions (for drills); `heal` restores the configured delays.
 *
 * Environment: REHEARSAL_DIR (data/rehearsal), REHEARSAL_PREFIX (gcfs: namespace names),
 * REHEARSAL_OCTET (251: addresses 10.251.x.y), REHEARSAL_RTT ("eu-us=40,ap-eu=80,ap-us=140"),
 * REHEARSAL_BACKEND (s3, the default, as in AWS: each region's bucket, replicated to the others;
 * or localfs: each node's disk, with the nodes' own replicas), REHEARSAL_S3_LAG_MS (0: extra wait
 * before each S3 replication copy).
 */
import { readCommandLine, usageError } from '../app/cli/command-line.js';
import { down, up } from './rehearsal/lifecycle.js';
import { setPartitions } from './rehearsal/network.js';
import { rehearsalOptions } from './rehearsal/paths.js';
import { readState } from './rehearsal/state.js';
import { collectStatus, endpointsText, statusText } from './rehearsal/report.js';

const USAGE = `usage: npm run rehearsal -- <command>

The multi-region topology of regions/ on this machine (root: network namespaces).

commands:
  up                          start every region (idempotent)
  status                      what runs, replica lag, DNS answers (exit 1 if a process is down)
  down                        stop everything it started and remove the namespaces
  partition <region> <region> drop every packet between two regions
  heal                        restore every configured delay

options: -h, --help; --version
environment: REHEARSAL_DIR, REHEARSAL_PREFIX, REHEARSAL_OCTET, REHEARSAL_RTT, REHEARSAL_BACKEND,
REHEARSAL_S3_LAG_MS (see the top of scripts/rehearsal.ts)`;

// Output piped into `head` may be closed early: that must not kill an `up` half-way.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

async function main(command: string | undefined, args: readonly string[]): Promise<number> {
  const options = rehearsalOptions();
  switch (command) {
    case 'up': {
      const result = await up(options);
      console.log(endpointsText(result.plan, result.state));
      return 0;
    }
    case 'status': {
      const status = await collectStatus(options);
      if (status === null) {
        console.log(`the rehearsal is not running (no state in ${options.dir}); start it with: npm run rehearsal -- up`);
        return 0;
      }
      console.log(statusText(status));
      // A stopped process, no writable primary or a failing replica is a failure, for scripts too.
      return status.processes.every((p) => p.running) && status.primaryRegion !== null && status.replicas.every((r) => r.failure === null) ? 0 : 1;
    }
    case 'down':
      await down(options);
      return 0;
    case 'partition': {
      const [a, b] = args;
      if (a === undefined || b === undefined) break;
      const current = (readState(options.dir)?.partitions ?? []).map((key) => key.split('-') as [string, string]);
      const now = await setPartitions(options, [...current, [a, b]]);
      console.log(`partitioned: ${now.join(', ')} (every packet between them is dropped; npm run rehearsal -- heal undoes it)`);
      return 0;
    }
    case 'heal':
      await setPartitions(options, []);
      console.log('every region reaches every other again, with its configured delay');
      return 0;
    default:
      break;
  }
  usageError('npm run rehearsal --', command === undefined ? 'rehearsal: name a command' : `rehearsal: unknown command or missing arguments: ${[command, ...args].join(' ')}`);
}

const { positionals } = readCommandLine({ command: 'npm run rehearsal --', usage: USAGE, options: {}, allowPositionals: true });
main(positionals[0], positionals.slice(1)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`rehearsal: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

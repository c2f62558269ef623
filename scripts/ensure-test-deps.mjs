#!/usr/bin/env node
// Makes sure the system programs the tests start (PostgreSQL server binaries, redis-server) are
// present. As root it installs the missing Debian packages; otherwise it prints the exact command.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

function hasPostgres() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return false;
  return readdirSync(base).some((v) => existsSync(`${base}/${v}/bin/initdb`) && existsSync(`${base}/${v}/bin/pg_ctl`));
}
function hasCommand(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = [];
if (!hasPostgres()) missing.push('postgresql-15');
if (!hasCommand('redis-server')) missing.push('redis-server');
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
if (typeof process.getuid === 'function' && process.getuid() === 0) {
  console.log(`installing test dependencies: ${missing.join(', ')}`);
  execFileSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${command}`], { stdio: 'inherit' });
} else {
  console.error(`the tests need ${missing.join(' and ')}; install them with:\n  sudo sh -c '${command}'`);
  process.exit(1);
}

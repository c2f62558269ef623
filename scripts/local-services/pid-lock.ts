/**
 * @module Processes identified across PID reuse, and the lock files built on that. A process is
 * named by its PID and its kernel start time (field 22 of /proc/PID/stat), so a PID the system
 * has since given to another program is never taken for ours. The rehearsal records what it
 * starts this way, and `up`/`down` and the drill runner each hold a lock file naming its holder
 * so: a holder that died is taken over, a live one refuses the second caller.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export interface ProcessIdentity {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat when it was started: identifies this process among PID reuses. */
  readonly startTime: string;
}

/** The process's start time from /proc, or null when no such process exists. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process of `record` is still running (a zombie counts as gone: it holds nothing). */
export function isRunning(record: ProcessIdentity): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] !== 'Z' && rest[0] !== 'X' && rest[19] === record.startTime;
  } catch {
    return false;
  }
}

/** This process's identity. */
export function ownIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

/**
 * Creates `file` naming this process (plus `extra`) and returns its release. When the file exists
 * and names another running process, throws `busy(holder)`; a holder that is gone (or a file left
 * half-written) is taken over.
 */
export function takePidLock<T extends object>(file: string, extra: T, busy: (holder: ProcessIdentity & T) => string): () => void {
  const me = { ...ownIdentity(), ...extra };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch {
      let holder: (ProcessIdentity & T) | null = null;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as ProcessIdentity & T;
      } catch {
        // unreadable: written by a process that died mid-write
      }
      if (holder !== null && holder.pid !== process.pid && isRunning(holder)) throw new Error(busy(holder));
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot take ${file}`);
}

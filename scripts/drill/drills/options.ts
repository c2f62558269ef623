/**
 * @module What a drill can be asked: its name and the options every drill reads (how the fault is
 * made, how long to wait for the system to converge, ...), with their defaults.
 */
import { type RegionLoss } from '../provider.js';

export const DRILLS = ['primary-failover', 'failback', 'home-outage', 'region-evacuate', 'region-restore', 'node-loss', 'redis-loss'] as const;

export type DrillName = (typeof DRILLS)[number];

export interface DrillOptions {
  /** How the fault is made: cut off, killed, or none (declared: a planned switchover). */
  readonly fault: RegionLoss | 'none';
  /** Promote even when another replica holds more WAL than the target (loses those writes). */
  readonly allowDataLoss: boolean;
  /** `failback`: after the rebuild, move the primary back (a planned switchover). */
  readonly switchBack: boolean;
  /** Longest wait of a step for the system to converge (nodes following, DNS, catch-up). */
  readonly convergeTimeoutMs: number;
  /** `home-outage`: how long the home region stays cut off. */
  readonly holdMs: number;
}

export const DEFAULT_DRILL_OPTIONS: DrillOptions = { fault: 'partition', allowDataLoss: false, switchBack: false, convergeTimeoutMs: 90_000, holdMs: 15_000 };

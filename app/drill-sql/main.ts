/**
 * @module Entry point of the drill SQL runner, the command of the one-shot ECS task the failover
 * drill starts in a region (`node dist/app/drill-sql/main.js`; ./runner.ts says what it does):
 * one marked result line on stdout, exit code 0 when the batch ran, 1 otherwise.
 */
import process from 'node:process';
import { formatSqlResultLine } from './batch.js';
import { runDrillSql } from './runner.js';

const result = await runDrillSql(process.env);
process.stdout.write(`${formatSqlResultLine(result)}\n`);
process.exitCode = result.ok ? 0 : 1;

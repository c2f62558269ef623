/**
 * @module Process entry of the drill's load agent (see agent.ts):
 *   node --import tsx scripts/drill/load/agent-main.ts '<options as JSON>'
 * The drill runs it inside a region's namespace (`ip netns exec <ns> ...`). SIGTERM or SIGINT stop
 * it like its stop file; a watchdog ends the process if it ever outlives its bound.
 * Prints one JSON summary line on stdout; exits 0, or 2 on bad options.
 */
import { parseAgentOptions, runAgent, type AgentOptions } from './agent.js';

let options: AgentOptions;
try {
  options = parseAgentOptions(JSON.parse(process.argv[2] ?? ''));
} catch (error) {
  process.stderr.write(`load agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}

const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());

// Operations end by their own timeouts; this only catches a hang nobody foresaw.
const watchdog = setTimeout(() => {
  process.stderr.write('load agent: still running past its bound; exiting\n');
  process.exit(3);
}, options.maxDurationMs + options.requestTimeoutMs * 2 + 5000);
watchdog.unref();

const summary = await runAgent(options, { signal: stop.signal });
process.stdout.write(JSON.stringify({ region: options.region, ...summary }) + '\n');
clearTimeout(watchdog);

/**
 * @module Structured logging (JSON lines or plain console lines) with levels. Values under keys
 * that look like secrets are replaced before anything is written.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** False when lines of `level` are dropped, so a caller can skip building them (absent: assume kept). */
  enabled?(level: LogLevel): boolean;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(secret|password|passwd|token|authorization|api_?key|credential|dsn)/i;

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = SECRET_KEY.test(key) ? '[redacted]' : value;
  return out;
}

export function createLogger(options: { level: LogLevel; format: 'json' | 'console'; write?: (line: string) => void }): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const min = RANK[options.level];
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (RANK[level] < min) return;
    const safe = redact(fields);
    if (options.format === 'json') {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...safe }));
    } else {
      const extra = Object.entries(safe).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}${extra.length ? ' ' + extra.join(' ') : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled: (level) => RANK[level] >= min,
  };
}

/** A logger that adds `fields` to every line (the node's instance id and region, for one). */
export function withFields(logger: Logger, fields: LogFields): Logger {
  return {
    debug: (m, f) => logger.debug(m, { ...fields, ...f }),
    info: (m, f) => logger.info(m, { ...fields, ...f }),
    warn: (m, f) => logger.warn(m, { ...fields, ...f }),
    error: (m, f) => logger.error(m, { ...fields, ...f }),
    enabled: (level) => logger.enabled?.(level) ?? true,
  };
}

export const SILENT_LOGGER: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, enabled: () => false };

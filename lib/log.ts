/**
 * One line per event, to stderr by default:
 *   2026-11-25T14:50:27.123Z info engine: placed unit unit=web.service machine=2c4f...
 * error/warn/info are always written; debug needs verbosity >= 1, trace verbosity >= 2 (fleet's
 * `verbosity` option).
 */
import type { Clock } from './clock.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type LogFields = Readonly<Record<string, unknown>>;

const MIN_VERBOSITY: Record<LogLevel, number> = { error: 0, warn: 0, info: 0, debug: 1, trace: 2 };

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  trace(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** The same logger, naming a component ("engine", "agent"...). */
  child(component: string): Logger;
}

export interface LoggerOptions {
  verbosity?: number;
  component?: string;
  /** Receives each line, without a newline (default: process.stderr). */
  write?: (line: string) => void;
  clock?: Pick<Clock, 'now'>;
}

function quote(v: string): string {
  return v === '' || /[\s"=\\]/.test(v) || /\p{Cc}/u.test(v) ? JSON.stringify(v) : v;
}

function fieldValue(v: unknown): string {
  if (v instanceof Error) return quote(v.message);
  if (typeof v === 'string') return quote(v);
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return v.toString();
  try {
    return quote(JSON.stringify(v) ?? String(v));
  } catch {
    return quote(String(v));
  }
}

/** Pure: the line for one event. Newlines in the message are escaped: one event, one line. */
export function formatLogLine(
  timeMs: number,
  level: LogLevel,
  component: string | undefined,
  msg: string,
  fields?: LogFields,
): string {
  const text = msg.replace(/\r?\n/g, '\\n');
  const kv = fields
    ? Object.entries(fields)
        .map(([k, v]) => ` ${k}=${fieldValue(v)}`)
        .join('')
    : '';
  return `${new Date(timeMs).toISOString()} ${level} ${component ? `${component}: ` : ''}${text}${kv}`;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const verbosity = opts.verbosity ?? 0;
  const write = opts.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const now = opts.clock ? () => opts.clock!.now() : () => Date.now();
  const enabled = (level: LogLevel) => verbosity >= MIN_VERBOSITY[level];
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    if (enabled(level)) write(formatLogLine(now(), level, opts.component, msg, fields));
  };
  return {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: log('debug'),
    trace: log('trace'),
    enabled,
    child: (component) =>
      createLogger({ ...opts, component: opts.component ? `${opts.component}/${component}` : component }),
  };
}

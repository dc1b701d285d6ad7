import winston from 'winston';
import { redactText, redactValue } from './secrets.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

/**
 * Winston format that strips registered secret values from the whole record (message and every
 * field) and drops stack traces, which belong in debug output only.
 */
const redact = winston.format((info) => {
  const level = info.level;
  const out = redactValue({ ...info });
  out.level = level;
  if (typeof out.message === 'string') out.message = redactText(out.message);
  if ('stack' in out && level !== 'debug') delete (out as Record<string, unknown>).stack;
  // winston keeps its own symbols on the record; copy them back so the transport still works.
  for (const sym of Object.getOwnPropertySymbols(info)) {
    (out as Record<symbol, unknown>)[sym] = (info as Record<symbol, unknown>)[sym];
  }
  return out;
});

/** Renames winston's `message` to `msg`, the field name the design uses. */
const msgField = winston.format((info) => {
  const { message, ...rest } = info;
  return Object.assign(rest, { msg: message }) as unknown as winston.Logform.TransformableInfo;
});

let root: Logger | undefined;

/** "06:15:02 warn  message  key=value" for a person at a terminal. */
const humanLine = winston.format.printf((info) => {
  const { level, msg, timestamp, ...fields } = info as Record<string, unknown>;
  const time = typeof timestamp === 'string' ? timestamp.slice(11, 19) : '';
  const extra = Object.entries(fields)
    .filter(([k]) => typeof k === 'string' && k !== 'message')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${String(level).padEnd(5)} ${String(msg)}${extra ? `  ${extra}` : ''}`;
});

/**
 * Logs go to stderr, so stdout stays free for the command's result: one JSON object a line
 * (what the daemon's journald and any machine reads), or readable lines when `human` is set
 * (stderr is a terminal).
 */
export function createLogger(level: LogLevel = 'info', stream: NodeJS.WritableStream = process.stderr, opts: { human?: boolean } = {}): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), redact(), msgField(), opts.human ? humanLine : winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
}

export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function getLogger(): Logger {
  if (!root) root = createLogger((process.env.FLIGHTCTL_RESTORE_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  return root;
}

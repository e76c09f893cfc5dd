#!/usr/bin/env node
/**
 * The daemon's entry point: signals, flags, logging, exit codes.
 *
 * Signal handlers are installed before anything else is loaded: without a
 * handler Node dies of a SIGHUP (exit 129), and loading the exporter's
 * modules takes long enough for a supervisor's reload or stop to arrive
 * first. So this file imports nothing at the top; the rest is loaded once
 * the handlers are in place. A SIGHUP during start-up is applied once
 * start-up is done; SIGTERM or SIGINT during start-up exits at once (nothing
 * is being served yet, so there is nothing to drain).
 */
import type { Logger } from './log/logger.js';
import type { RunningExporter } from './exporter.js';

const SHUTDOWN_DEADLINE_MS = 8000;

let exporter: RunningExporter | undefined;
let logger: Logger | undefined;
let reloadWhenStarted = false;
let stopping = false;

process.on('SIGHUP', () => {
  if (!exporter) {
    reloadWhenStarted = true;
    logger?.info('SIGHUP received during start-up: reloading once started');
    return;
  }
  logger?.info('SIGHUP received: reloading configuration');
  void exporter.reload('SIGHUP');
});
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  const running = exporter;
  if (!running) {
    logger?.info('shutting down during start-up', { signal });
    process.exit(0);
  }
  logger?.info('shutting down', { signal });
  const force = setTimeout(() => {
    logger?.warn('shutdown took too long; exiting anyway');
    process.exit(0);
  }, SHUTDOWN_DEADLINE_MS);
  force.unref();
  running.stop().then(
    () => {
      logger?.info('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      logger?.error('error while stopping', { err: String(err) });
      process.exit(0);
    },
  );
}

async function main(): Promise<void> {
  const { FlagError, parseFlags, USAGE } = await import('./cli/flags.js');
  const { createLogger, scrubSecrets } = await import('./log/logger.js');
  const { VERSION } = await import('./version.js');
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`aliyun-sas-exporter: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (flags.version) {
    process.stdout.write(`aliyun-sas-exporter ${VERSION} (node ${process.version})\n`);
    return;
  }
  const log = createLogger({ level: flags.logLevel, format: flags.logFormat });
  logger = log;
  process.on('unhandledRejection', (reason) => {
    log.error('BUG: unhandled promise rejection', { err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  });
  process.on('uncaughtException', (err) => {
    log.error('BUG: uncaught exception; exiting', { err: err.stack ?? err.message });
    process.exit(1);
  });

  const { startExporter, StartupError } = await import('./exporter.js');
  try {
    log.info('starting aliyun-sas-exporter', { version: VERSION, node: process.version });
    if (reloadWhenStarted) log.info('SIGHUP received during start-up: reloading once started');
    exporter = await startExporter(flags, log);
  } catch (err) {
    // Every start-up failure: one line naming the file (and line) in the log, the same on stderr, exit 1.
    const message = err instanceof StartupError ? err.message : `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    log.error('start-up failed', { err: message });
    process.stderr.write(scrubSecrets(`aliyun-sas-exporter: ${message}\n`));
    process.exit(1);
  }
  if (reloadWhenStarted) void exporter.reload('SIGHUP');
}

void main();

#!/usr/bin/env node
/** The daemon's entry point: flags, logging, signals, exit codes. */
import { FlagError, parseFlags, USAGE } from './cli/flags.js';
import { startExporter, StartupError, type RunningExporter } from './exporter.js';
import { createLogger, scrubSecrets } from './log/logger.js';
import { VERSION } from './version.js';

const SHUTDOWN_DEADLINE_MS = 8000;

async function main(): Promise<void> {
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
  const logger = createLogger({ level: flags.logLevel, format: flags.logFormat });

  process.on('unhandledRejection', (reason) => {
    logger.error('BUG: unhandled promise rejection', { err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  });
  process.on('uncaughtException', (err) => {
    logger.error('BUG: uncaught exception; exiting', { err: err.stack ?? err.message });
    process.exit(1);
  });

  let exporter: RunningExporter | undefined;
  // Installed before start-up: without a handler Node dies of a SIGHUP, and
  // start-up can take seconds (the credential chain, an ECS metadata or
  // credentials URI round trip), long enough for a reload sent by a
  // supervisor to kill the exporter. One that arrives early is run once up.
  let reloadWhenStarted = false;
  process.on('SIGHUP', () => {
    if (!exporter) {
      logger.info('SIGHUP received during start-up: reloading once started');
      reloadWhenStarted = true;
      return;
    }
    logger.info('SIGHUP received: reloading configuration');
    void exporter.reload('SIGHUP');
  });
  try {
    logger.info('starting aliyun-sas-exporter', { version: VERSION, node: process.version });
    exporter = await startExporter(flags, logger);
  } catch (err) {
    if (err instanceof StartupError) {
      // The whole message in one structured line, so a log collector keeps the file and line too.
      logger.error('start-up failed', { err: err.message });
      process.stderr.write(scrubSecrets(`aliyun-sas-exporter: ${err.message}\n`));
      process.exit(1);
    }
    throw err;
  }

  const running = exporter;
  if (reloadWhenStarted) void running.reload('SIGHUP');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => {
      logger.warn('shutdown took too long; exiting anyway');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    running.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('error while stopping', { err: String(err) });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();

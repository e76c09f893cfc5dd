#!/usr/bin/env node
/** Entry point: `node dist/src/simulator/main.js --scenario FILE --listen 127.0.0.1:PORT`. */
import { runCli } from './cli.js';

const result = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
if (!result.ok) {
  process.exitCode = result.exitCode;
} else {
  const { handle } = result;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: closing\n`);
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

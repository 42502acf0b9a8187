import { followLogs, logFiles, readLogs } from '../logs.ts';
import { defaultStateDir, type TargetFlags } from '../target.ts';
import { defineCommand, usageError } from './command.ts';

export const logsCommand = defineCommand({
  options: {
    follow: { type: 'boolean', short: 'f', default: false },
    lines: { type: 'string', short: 'n' },
    'state-dir': { type: 'string' },
  },
  positionals: true,
  usage: (invocation) => `Usage: ${invocation} [SERVICE] [--follow] [--lines N] [--state-dir DIR]

The logs of the local stack (<state-dir>/logs/<process>.log, JSON lines) for reading: ISO time, level
name, process, message and fields. Without SERVICE, every process's log merged in time order.
SERVICE: embedded-database, mock-register, identity-server, api-manager, gateway or banking.

  -f, --follow           keep printing new lines until Ctrl-C
  -n, --lines N          only the last N lines (before following)
  --state-dir DIR        state directory (default: OBKIT_STATE_DIR, obkit.state_dir of OBKIT_CONFIG, .obkit)`,
  run: async ({ values, positionals }, invoked) => {
    const lines = values.lines === undefined ? undefined : Number(values.lines);
    if (positionals.length > 1 || (lines !== undefined && !(Number.isInteger(lines) && lines >= 0)))
      return usageError(invoked);
    try {
      const files = await logFiles(defaultStateDir(values as TargetFlags), positionals[0]);
      const rendered = await readLogs(files);
      for (const line of rendered.slice(lines === undefined ? 0 : Math.max(0, rendered.length - lines)))
        console.log(line);
      if (!values.follow) return;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await followLogs(files, (line) => console.log(line), stop.signal);
    } catch (error) {
      console.error(`${invoked.invocation}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  },
});

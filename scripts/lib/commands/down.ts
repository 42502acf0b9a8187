import { defaultStateDir, type TargetFlags } from '../target.ts';
import { stopRunningUp } from '../up-lock.ts';
import { defineCommand } from './command.ts';

export const downCommand = defineCommand({
  options: { 'state-dir': { type: 'string' } },
  usage: (invocation) => `Usage: ${invocation} [--state-dir DIR]

Stops the \`obkit up\` running on the state directory (as Ctrl-C in its terminal would: every service,
then the embedded database) and waits until it has finished. Nothing running is not an error.

  --state-dir DIR        state directory (default: OBKIT_STATE_DIR, obkit.state_dir of OBKIT_CONFIG, .obkit)`,
  run: async ({ values }, { invocation }) => {
    const stateDir = defaultStateDir(values as TargetFlags);
    try {
      const stopped = await stopRunningUp(stateDir);
      console.log(
        stopped
          ? `${invocation}: stopped obkit up (pid ${stopped.pid}, started ${stopped.startedAt}) on ${stateDir}`
          : `${invocation}: no obkit up is running on ${stateDir}`,
      );
    } catch (error) {
      console.error(`${invocation}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  },
});

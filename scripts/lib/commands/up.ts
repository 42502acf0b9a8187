import { type Command, defineCommand } from './command.ts';

/**
 * `obkit up`: the bundled `up` (built first when the sources changed) loads in half the time of the
 * sources, so its options and usage come from the module it will run.
 */
export async function upCommand(args: string[]): Promise<Command> {
  const { ensureBundles } = await import('../../../lib/process/bundles.ts');
  const help = args.includes('--help') || args.includes('-h');
  const bundles = help ? undefined : await ensureBundles((line) => console.error(`obkit up: ${line}`));
  const { runUp, UP_HELP, upOptions }: typeof import('../up.ts') = await import(
    bundles?.of('scripts/lib/up.ts') ?? '../up.ts'
  );
  return defineCommand({
    options: upOptions,
    usage: () => UP_HELP,
    run: async ({ values }) => {
      process.exitCode = await runUp(values as import('../up.ts').UpValues);
    },
  });
}

import type { ParseArgsConfig, parseArgs } from 'node:util';
import { parseCommandLine } from '../command-line.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>;

/** How the command was invoked: by `obkit` (`obkit truststore`) or by its script (`scripts/load-truststore.ts`). */
export interface Invocation {
  /** The program named in a parse error (`obkit`, or the script's path). */
  program: string;
  /** What the user typed before the options, as the usage text shows it. */
  invocation: string;
  /** The command's usage text for this invocation. */
  usage: string;
}

/** One command, defined once for both front doors: its options, usage text and what it runs. */
export interface Command<O extends Options = Options> {
  options: O;
  positionals?: boolean;
  usage(invocation: string): string;
  run(parsed: Parsed<O>, invoked: Invocation): Promise<void>;
}

/** Types `run`'s values from the options; the table holds every command as a plain `Command`. */
export function defineCommand<const O extends Options>(command: Command<O>): Command {
  return command as unknown as Command;
}

/** Parses `args` (help and unknown flags as parseCommandLine) and runs the command; it sets process.exitCode. */
export async function runCommand(
  command: Command,
  front: { program: string; invocation: string },
  args: string[],
): Promise<void> {
  const usage = command.usage(front.invocation);
  const parsed = parseCommandLine(
    front.program,
    { args, options: command.options, allowPositionals: command.positionals ?? false },
    usage,
  );
  await command.run(parsed as Parsed<Options>, { ...front, usage });
}

/** A usage error: the usage on stderr, exit 2. */
export function usageError(invoked: Invocation): void {
  console.error(invoked.usage);
  process.exitCode = 2;
}

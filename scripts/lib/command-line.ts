import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * node:util `parseArgs` (strict) for obkit's commands and the scripts, with `-h/--help` on every one:
 * help prints `usage` and exits 0; a flag it does not know prints the error and `usage` and exits 2.
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
  program: string,
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs({
      ...config,
      options: { ...config.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    } as T);
  } catch (error) {
    console.error(`${program}: ${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}

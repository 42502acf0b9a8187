import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * docs/wso2.md against the commands it documents: every command line in it is run with `--help`
 * appended — the command's own strict parser must accept each flag, exactly as written — and every flag
 * the guide names appears in that command's `--help`.
 */

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const GUIDE = join(ROOT, 'docs', 'wso2.md');

/** Shell lines of the guide's code blocks and backticked commands, continuations joined. */
async function documentedCommands(): Promise<string[][]> {
  const text = await readFile(GUIDE, 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ' '));
  const lines = blocks.flatMap((block) => block.split('\n'));
  const inline = [...text.matchAll(/`((?:obkit|scripts\/)[^`]*)`/g)].map((m) => m[1]!);
  return [...lines, ...inline]
    .map((line) => line.replace(/\s*\(.*$/, '').trim())
    .filter((line) => /^(obkit \w+|scripts\/[\w-]+\.ts)/.test(line))
    .map(words);
}

/** Words of a shell line (double quotes group). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

async function invoke(argv: string[]): Promise<{ code: number; output: string }> {
  const [program, ...rest] = argv;
  const file = program === 'obkit' ? join(ROOT, 'bin', 'obkit.ts') : join(ROOT, program!);
  try {
    const { stdout } = await run(process.execPath, [file, ...rest, '--help'], {
      env: { PATH: process.env.PATH },
    });
    return { code: 0, output: stdout };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

describe('docs/wso2.md', () => {
  it('documents only command lines the commands accept, with flags their --help describes', async () => {
    const commands = await documentedCommands();
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const failures: string[] = [];
    for (const argv of commands) {
      const { code, output } = await invoke(argv);
      if (code !== 0) failures.push(`${argv.join(' ')}\n  → exit ${code}: ${output.split('\n')[0]}`);
      for (const flag of argv.filter((word) => word.startsWith('--')))
        if (!output.includes(flag))
          failures.push(`${argv.slice(0, 2).join(' ')}: --help does not mention ${flag}`);
    }
    expect(failures).toEqual([]);
  }, 180_000);

  it("names in its flag table only flags of configure's or smoke's --help", async () => {
    const text = await readFile(GUIDE, 'utf8');
    const table = text.slice(
      text.indexOf('## Flags for a WSO2 target'),
      text.indexOf('## What obkit leaves'),
    );
    const flags = new Set(
      [...table.matchAll(/^\| `([^`]+)`/gm)].flatMap((m) => m[1]!.match(/--[\w-]+/g) ?? []),
    );
    expect(flags.size).toBeGreaterThanOrEqual(15);
    const help = (await invoke(['obkit', 'configure'])).output + (await invoke(['obkit', 'smoke'])).output;
    expect([...flags].filter((flag) => !help.includes(flag))).toEqual([]);
  }, 60_000);
});

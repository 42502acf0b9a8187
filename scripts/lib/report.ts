/**
 * What a step reports: `unchanged` when the target already matched, `updated` when the step changed it,
 * `passed` for checks, `skipped` when a step does not apply to the target. Scripts print one line per
 * step (or JSON with `--json`) and exit non-zero with the API's error on failure.
 */

export type StepStatus = 'unchanged' | 'updated' | 'passed' | 'skipped';

export interface StepResult {
  step: string;
  status: StepStatus;
  /** What was done or found, in a few words each (never a secret). */
  actions: string[];
  data?: Record<string, unknown>;
}

/** Progress lines for long steps; steps never print by themselves. */
export type Progress = (message: string) => void;

export const silent: Progress = () => {};

/** Records actions; `status` is `updated` as soon as one change was made. */
export class StepRecorder {
  readonly step: string;
  readonly actions: string[] = [];
  changed = false;
  readonly progress: Progress;

  constructor(step: string, progress: Progress = silent) {
    this.step = step;
    this.progress = progress;
  }

  change(action: string): void {
    this.changed = true;
    this.actions.push(action);
    this.progress(action);
  }

  note(action: string): void {
    this.actions.push(action);
  }

  result(data?: Record<string, unknown>): StepResult {
    return {
      step: this.step,
      status: this.changed ? 'updated' : 'unchanged',
      actions: this.actions,
      ...(data ? { data } : {}),
    };
  }
}

export function formatResult(result: StepResult): string {
  const head = `${result.step}: ${result.status}`;
  return result.actions.length ? `${head}\n${result.actions.map((a) => `  - ${a}`).join('\n')}` : head;
}

/** Prints results and sets the exit code; errors print their message only (no stack, no request data). */
export async function runAndReport(json: boolean, run: () => Promise<StepResult[]>): Promise<void> {
  try {
    const results = await run();
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, results }, null, 2)}\n`);
    else for (const result of results) process.stdout.write(`${formatResult(result)}\n`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
    else process.stderr.write(`error: ${message}\n`);
    process.exitCode = 1;
  }
}

/**
 * Runs a long step with feedback on stderr: zx's spinner on a terminal, plain progress lines otherwise
 * (logs, CI), nothing with --json.
 */
export async function withProgress<T>(
  title: string,
  json: boolean,
  run: (progress: Progress) => Promise<T>,
): Promise<T> {
  if (json) return run(silent);
  if (process.stderr.isTTY) {
    const { spinner } = await import('zx');
    return spinner(title, () => run(stderrProgress('  ')));
  }
  process.stderr.write(`${title}…\n`);
  return run(stderrProgress('  '));
}

/** Progress to stderr, so stdout stays a clean result (and valid JSON with --json). */
export function stderrProgress(prefix = ''): Progress {
  return (message) => process.stderr.write(`${prefix}${message}\n`);
}

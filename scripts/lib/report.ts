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

/** A change a step makes, or would make under `configure --plan`. */
export interface PlannedChange {
  action: 'create' | 'update' | 'delete';
  /** What is changed, e.g. `key manager OBKM`. */
  subject: string;
  /** The fields that differ, for updates. */
  fields?: string[];
}

/**
 * Records actions; `status` is `updated` as soon as one change was made. With `dryRun` (configure
 * --plan) the writes passed to `apply` are not made: the step reports what it would change.
 */
export class StepRecorder {
  readonly step: string;
  readonly actions: string[] = [];
  readonly planned: PlannedChange[] = [];
  /** What was found as wanted (a dry run leaves it). */
  readonly kept: string[] = [];
  changed = false;
  readonly progress: Progress;
  readonly dryRun: boolean;

  constructor(step: string, progress: Progress = silent, dryRun = false) {
    this.step = step;
    this.progress = progress;
    this.dryRun = dryRun;
  }

  change(action: string): void {
    this.changed = true;
    this.actions.push(action);
    this.progress(action);
  }

  /** Records a change: made, or — dry-running — to be made by a write the step batches itself. */
  record(action: string, change: PlannedChange): void {
    this.planned.push(change);
    this.change(action);
  }

  /** Makes a change (unless dry-running) and records it. */
  async apply<T>(action: string, change: PlannedChange, write: () => Promise<T>): Promise<T | undefined> {
    this.record(action, change);
    return this.dryRun ? undefined : write();
  }

  note(action: string): void {
    this.actions.push(action);
    this.kept.push(action);
  }

  result(data?: Record<string, unknown>): StepResult {
    const planned = this.dryRun ? { changes: this.planned, kept: this.kept } : {};
    return {
      step: this.step,
      status: this.changed ? 'updated' : 'unchanged',
      actions: this.actions,
      ...(data || this.dryRun ? { data: { ...data, ...planned } } : {}),
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

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { XMLBuilder } from 'fast-xml-parser';
import { Gauge, Pushgateway, Registry } from 'prom-client';
import type { StepResult } from './report.ts';

/**
 * What a smoke run leaves for machines, besides its printed result: a JUnit report (one test case per
 * check, for CI dashboards), Prometheus metrics in a text file, and the same metrics pushed to a
 * Pushgateway (scheduled verification). A passed run replaces the job's metrics; a failed one only
 * overwrites obkit_smoke_success and the duration, so obkit_smoke_last_success_timestamp_seconds keeps
 * the time of the last run that passed (alert on its age).
 */

export interface SmokeReportOptions {
  junit?: string | undefined;
  metricsFile?: string | undefined;
  pushgateway?: string | undefined;
  /** Grouping label of the pushed metrics (one series per environment). */
  instance?: string;
}

export const smokeReportFlags = {
  junit: { type: 'string' },
  'metrics-file': { type: 'string' },
  pushgateway: { type: 'string' },
} as const;

export const SMOKE_REPORT_HELP = `Reports:
  --junit FILE           write a JUnit report (one test case per check)
  --metrics-file FILE    write Prometheus metrics (obkit_smoke_success, obkit_smoke_duration_seconds,
                         obkit_smoke_last_success_timestamp_seconds)
  --pushgateway URL      push the same metrics to a Prometheus Pushgateway (job obkit-smoke)`;

/** Runs the smoke test and writes the asked-for reports whether it passed or failed. */
export async function reportedSmoke(
  options: SmokeReportOptions,
  run: () => Promise<StepResult>,
): Promise<StepResult> {
  const started = Date.now();
  let outcome: { result: StepResult } | { error: Error };
  try {
    outcome = { result: await run() };
  } catch (error) {
    outcome = { error: error as Error };
  }
  const seconds = (Date.now() - started) / 1000;
  if (options.junit) await writeReport(options.junit, junitReport(outcome, seconds));
  if (options.metricsFile || options.pushgateway) {
    const registry = smokeMetrics('result' in outcome, seconds, Date.now() / 1000);
    if (options.metricsFile) await writeReport(options.metricsFile, await registry.metrics());
    if (options.pushgateway) await push(options.pushgateway, registry, 'result' in outcome, options.instance);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.result;
}

export function junitReport(outcome: { result: StepResult } | { error: Error }, seconds: number): string {
  const cases =
    'result' in outcome
      ? outcome.result.actions.map((check) =>
          check.startsWith('skipped: ')
            ? { '@_name': check.slice('skipped: '.length), skipped: '' }
            : { '@_name': check },
        )
      : [{ '@_name': 'smoke test', failure: { '@_message': outcome.error.message } }];
  const failures = 'error' in outcome ? 1 : 0;
  const skipped = cases.filter((testCase) => 'skipped' in testCase).length;
  const builder = new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({
    testsuites: {
      testsuite: {
        '@_name': 'obkit smoke',
        '@_tests': cases.length,
        '@_failures': failures,
        '@_skipped': skipped,
        '@_time': seconds.toFixed(3),
        testcase: cases.map((testCase) => ({ '@_classname': 'obkit.smoke', ...testCase })),
      },
    },
  })}`;
}

export function smokeMetrics(passed: boolean, seconds: number, nowSeconds: number): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, value: number) =>
    new Gauge({ name, help, registers: [registry] }).set(value);
  gauge('obkit_smoke_success', '1 when the last smoke run passed, 0 when it failed.', passed ? 1 : 0);
  gauge('obkit_smoke_duration_seconds', 'Duration of the last smoke run.', seconds);
  if (passed)
    gauge(
      'obkit_smoke_last_success_timestamp_seconds',
      'Unix time of the last passed smoke run.',
      nowSeconds,
    );
  return registry;
}

async function push(url: string, registry: Registry, passed: boolean, instance = 'obkit'): Promise<void> {
  const gateway = new Pushgateway(url, { timeout: 10_000 }, registry);
  const params = { jobName: 'obkit-smoke', groupings: { instance } };
  try {
    // PUT replaces the group (a pass); POST replaces only the metrics sent (a failure keeps the last success).
    await (passed ? gateway.push(params) : gateway.pushAdd(params));
  } catch (error) {
    throw new Error(`pushing the smoke metrics to ${url} failed: ${(error as Error).message}`);
  }
}

async function writeReport(file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
}

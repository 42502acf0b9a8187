#!/usr/bin/env node
// Time from `obkit up` to a passing smoke test, cold (fresh state directory) and warm (second start on
// the same one), and a second `obkit configure` (no smoke test: the configure steps alone) against the
// running stack, with the CPU of every process of the stack per phase, so figures taken on a busy
// machine still say where the time goes. Targets (2-core CI machine): cold ≤ 8 s, warm ≤ 3 s,
// configure ≤ 1 s. Free ports, temporary state directory. The processes run from their bundles (what
// `obkit up` runs, lib/process/bundles.ts); a warm start from the TypeScript sources is the same-run baseline.
// BENCH_UP_OPTIONS=1 adds options measured in the same run: a warm start without Node's compile cache, and
// the embedded-database options: one shared PGlite
// (what `obkit up` runs) against one PGlite per service, from the cluster template and without it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBundles } from '../lib/process/bundles.ts';
import { clusterTemplatePath } from '../lib/storage/pglite-template.ts';
import { freeBasePort } from '../test/support/ports.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OBKIT = join(ROOT, 'bin', 'obkit.ts');
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
/** Output lines of `obkit up` that end each phase, in order. */
const PHASES: [string, RegExp][] = [
  ['CLI start, config, lock', /^obkit up: state directory/],
  ['PKI, processes start → all ready', /^· configuring/],
  ['configure steps', /^ {4}smoke test$/],
  ['smoke test', /smoke-test: passed/],
];

interface Sample {
  at: number;
  /** CPU seconds of `obkit up` and every process under it (exited children included once reaped). */
  tree: number;
  /** CPU seconds of the whole machine (all cores), to tell how much other processes took. */
  machine: number;
}

interface PhaseFigure {
  name: string;
  seconds: number;
  cpu: number;
  othersShare: number;
}

function procStat(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the command: state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based in proc(5).
    const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0);
    return { ppid: Number(fields[1]), cpu: ticks / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

function treeCpu(root: number): number {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  const inTree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, stat] of stats) {
      if (!inTree.has(pid) && inTree.has(stat.ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  return [...inTree].reduce((sum, pid) => sum + (stats.get(pid)?.cpu ?? 0), 0);
}

function machineCpu(): number {
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
  const [user, nice, system, , , irq, softirq, steal] = cpu!.split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}

/** CPU seconds of `obkit up` and of each process it started, by service name. */
function cpuByProcess(root: number): Record<string, number> {
  const figures: Record<string, number> = { 'obkit up (CLI)': procStat(root)?.cpu ?? 0 };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || procStat(Number(entry))?.ppid !== root) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const name = args.map((arg) => /services\/([\w-]+)\/main\./.exec(arg)?.[1]).find(Boolean);
      if (name) figures[name] = procStat(Number(entry))!.cpu;
    } catch {
      // exited meanwhile
    }
  }
  return figures;
}

function sample(pid: number): Sample {
  return { at: performance.now(), tree: treeCpu(pid), machine: machineCpu() };
}

/** Starts `obkit up` and samples CPU at each phase's last line; resolves once the smoke test passed. */
async function timeUp(
  stateDir: string,
  basePort: number,
  env: NodeJS.ProcessEnv = {},
): Promise<{ phases: PhaseFigure[]; child: ChildProcess; readyCpu: Record<string, number> }> {
  const child = spawn(
    process.execPath,
    [OBKIT, 'up', '--state-dir', stateDir, '--base-port', String(basePort)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OBKIT__OBKIT__LOG_LEVEL: 'warn', ...env },
    },
  );
  const samples: Sample[] = [sample(child.pid!)];
  let readyCpu: Record<string, number> = {};
  let output = '';
  let pending = '';
  const done = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const phase = PHASES[samples.length - 1];
        if (phase?.[1].test(line)) {
          samples.push(sample(child.pid!));
          if (samples.length === 3) readyCpu = cpuByProcess(child.pid!);
        }
        if (samples.length === PHASES.length + 1) resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`obkit up exited ${code}:\n${output}`)));
  });
  await done;
  const phases = PHASES.map(([name], index) => {
    const [from, to] = [samples[index]!, samples[index + 1]!];
    const seconds = (to.at - from.at) / 1000;
    const cpu = to.tree - from.tree;
    const others = Math.max(0, to.machine - from.machine - cpu);
    return { name, seconds, cpu, othersShare: others / (seconds * 2) };
  });
  return { phases, child, readyCpu };
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Wall time and CPU (this process's reaped children) of a command run to its end. */
function timeCommand(args: string[]): { seconds: number; cpu: number } {
  const before = procStat(process.pid)!;
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  const seconds = (performance.now() - started) / 1000;
  const self = process.cpuUsage(selfBefore);
  const cpu = procStat(process.pid)!.cpu - before.cpu - (self.user + self.system) / 1e6;
  return { seconds, cpu };
}

function printProcesses(figures: Record<string, number>): void {
  const list = Object.entries(figures).map(([name, cpu]) => `${name} ${cpu.toFixed(2)}`);
  console.log(`    CPU s by process until all ready: ${list.join(', ')}`);
}

function printRun(title: string, phases: PhaseFigure[], target: number): number {
  const total = phases.reduce((sum, phase) => sum + phase.seconds, 0);
  const cpu = phases.reduce((sum, phase) => sum + phase.cpu, 0);
  console.log(
    `${title.padEnd(34)} ${total.toFixed(2).padStart(6)} s   target ≤ ${target} s   ${total <= target ? 'ok' : 'OVER'}   CPU ${cpu.toFixed(2)} s (all processes)`,
  );
  for (const phase of phases) {
    console.log(
      `    ${phase.name.padEnd(36)} ${phase.seconds.toFixed(2).padStart(6)} s   CPU ${phase.cpu.toFixed(2).padStart(5)} s   other processes ${(phase.othersShare * 100).toFixed(0).padStart(3)} % of the machine`,
    );
  }
  return total;
}

const stateDir = await mkdtemp(join(tmpdir(), 'obkit-bench-up-'));
try {
  await prepareTemplate(stateDir);
  await prepareBundles();
  const basePort = await freeBasePort();
  const cold = await timeUp(stateDir, basePort);
  await stop(cold.child);
  // Same-run baseline: the processes and the CLI's `up` from the TypeScript sources.
  const sources = await timeUp(stateDir, basePort, { OBKIT_BUNDLES: '0' });
  await stop(sources.child);
  const warm = await timeUp(stateDir, basePort);
  const stackBefore = treeCpu(warm.child.pid!);
  const configure = timeCommand([OBKIT, 'configure', '--state-dir', stateDir, '--no-smoke', '--json']);
  const stackCpu = treeCpu(warm.child.pid!) - stackBefore;
  const withSmoke = timeCommand([OBKIT, 'configure', '--state-dir', stateDir, '--json']);
  await stop(warm.child);
  printRun('obkit up → smoke passed (cold)', cold.phases, 8);
  const warmTotal = printRun('obkit up → smoke passed (warm)', warm.phases, 3);
  printProcesses(warm.readyCpu);
  const sourcesTotal = printRun('  baseline: warm from the sources', sources.phases, 3);
  printProcesses(sources.readyCpu);
  console.log(`    bundles / sources (warm): ×${(warmTotal / sourcesTotal).toFixed(2)} of the time`);
  console.log(
    `${'second obkit configure'.padEnd(34)} ${configure.seconds.toFixed(2).padStart(6)} s   target ≤ 1 s   ${configure.seconds <= 1 ? 'ok' : 'OVER'}   CPU ${configure.cpu.toFixed(2)} s (CLI) + ${stackCpu.toFixed(2)} s (services)`,
  );
  console.log(
    `${'second obkit configure + smoke'.padEnd(34)} ${withSmoke.seconds.toFixed(2).padStart(6)} s   CPU ${withSmoke.cpu.toFixed(2)} s (CLI)`,
  );
  if (process.env.BENCH_UP_OPTIONS === '1') {
    // Node's compile cache (what `obkit up` uses): the bundles' code deserialised instead of compiled.
    const noCache = await timeUp(stateDir, basePort, { NODE_DISABLE_COMPILE_CACHE: '1' });
    await stop(noCache.child);
    printRun('  option: warm without the compile cache', noCache.phases, 3);
    printProcesses(noCache.readyCpu);
    await databaseOptions(stateDir);
  }
} finally {
  await rm(stateDir, { recursive: true, force: true });
}

/**
 * Cold means a fresh state directory on a machine where obkit has run: the cluster template (once per
 * install and PGlite version) is built first if it is missing, and its cost reported on its own.
 */
async function prepareTemplate(dir: string): Promise<void> {
  if (existsSync(join(clusterTemplatePath(), 'PG_VERSION'))) return;
  const before = procStat(process.pid)!.cpu;
  const started = performance.now();
  const script = `import { prepareDataDir } from '${join(ROOT, 'lib', 'storage', 'pglite-template.ts')}';
    await prepareDataDir(${JSON.stringify(join(dir, 'template-probe'))});`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error('could not prepare the PGlite cluster template');
  await rm(join(dir, 'template-probe'), { recursive: true, force: true });
  const cpu = procStat(process.pid)!.cpu - before;
  console.log(
    `cluster template: ${((performance.now() - started) / 1000).toFixed(2)} s, CPU ${cpu.toFixed(2)} s (once per install; then copied in ≈0.1 s)`,
  );
}

/** Like the template: the bundles are built once per change of the sources, and reported on their own. */
async function prepareBundles(): Promise<void> {
  const before = procStat(process.pid)!.cpu;
  const started = performance.now();
  const bundles = await ensureBundles((line) => console.log(`bundles: ${line}`));
  if (!bundles) throw new Error('the bench measures `obkit up` from its bundles: esbuild must be installed');
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 0.1)
    console.log(
      `bundles: ${seconds.toFixed(2)} s, CPU ${(procStat(process.pid)!.cpu - before).toFixed(2)} s (esbuild; once per change of the sources)`,
    );
}

/**
 * The embedded-database options for a local stack of three database-backed services, each measured
 * as processes started together (as `obkit up` starts them) until every database answers a query.
 */
async function databaseOptions(dir: string): Promise<void> {
  const open = (dataDir: string, template: boolean) => `
    import { PGlite } from '@electric-sql/pglite';
    import { prepareDataDir } from '${join(ROOT, 'lib', 'storage', 'pglite-template.ts')}';
    ${template ? `await prepareDataDir(${JSON.stringify(dataDir)});` : ''}
    const db = await PGlite.create({ dataDir: ${JSON.stringify(dataDir)} });
    await db.query('SELECT 1');
    await db.close();`;
  const run = async (name: string, count: number, template: boolean, nodeOptions = ['--liftoff-only']) => {
    const before = procStat(process.pid)!.cpu;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const child = spawn(
          process.execPath,
          [...nodeOptions, '--input-type=module', '-e', open(join(dir, `${name}-${index}`), template)],
          {
            cwd: ROOT,
            stdio: 'inherit',
          },
        );
        const [code] = await once(child, 'exit');
        if (code !== 0) throw new Error(`${name} failed`);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = procStat(process.pid)!.cpu - before;
    console.log(
      `    ${name.padEnd(44)} ${seconds.toFixed(2).padStart(6)} s   CPU ${cpu.toFixed(2).padStart(5)} s`,
    );
  };
  console.log(
    'embedded database options (start to first query, processes started together, --liftoff-only):',
  );
  await run('one shared PGlite, from the template (chosen)', 1, true);
  await run('the same with V8 tiering up (no --liftoff-only)', 1, true, []);
  await run('one PGlite per service (3), from the template', 3, true);
  await run('one shared PGlite, initdb', 1, false);
  await run('one PGlite per service (3), initdb (before)', 3, false);
}

import { type Command, runCommand } from './command.ts';

/**
 * The command table both front doors use: `bin/obkit.ts <name>` and the console-step scripts in
 * scripts/. Each entry loads only its own modules (so a command starts without loading the others').
 */
export const commands = {
  up: async (args) => (await import('./up.ts')).upCommand(args),
  down: async () => (await import('./down.ts')).downCommand,
  logs: async () => (await import('./logs.ts')).logsCommand,
  configure: async () => (await import('./configure.ts')).configureCommand,
  smoke: async () => (await import('./smoke.ts')).smokeCommand,
  'consent-url': async () => (await import('./consent-url.ts')).consentUrlCommand,
  status: async () => (await import('./status.ts')).statusCommand,
  conformance: async () => (await import('./conformance.ts')).conformanceCommand,
  dcr: async () => (await import('./dcr.ts')).dcrCommand,
  pki: async () => (await import('./pki.ts')).pkiCommand,
  truststore: async () => (await import('./truststore.ts')).truststoreCommand,
  // The single console steps of WSO2's guide, run by their scripts (`obkit configure` runs them all).
  'configure-key-manager': async () =>
    (await import('./configure-key-manager.ts')).configureKeyManagerCommand,
  'publish-dcr-api': async () => (await import('./publish-dcr-api.ts')).publishDcrApiCommand,
  restart: async () => (await import('./restart.ts')).restartCommand,
} satisfies Record<string, (args: string[]) => Promise<Command>>;

export type CommandName = keyof typeof commands;

/** The commands `obkit` answers (the others are console steps with a script each). */
export const OBKIT_COMMANDS: readonly CommandName[] = [
  'up',
  'down',
  'logs',
  'configure',
  'smoke',
  'consent-url',
  'status',
  'conformance',
  'dcr',
  'pki',
  'truststore',
];

/** `obkit <name> args…`. */
export async function runObkitCommand(name: CommandName, args: string[]): Promise<void> {
  await runCommand(await commands[name](args), { program: 'obkit', invocation: `obkit ${name}` }, args);
}

/** A script's front door: `scripts/load-truststore.ts` runs the `truststore` command. */
export async function runScript(name: CommandName, script: string): Promise<void> {
  const args = process.argv.slice(2);
  await runCommand(await commands[name](args), { program: script, invocation: script }, args);
}

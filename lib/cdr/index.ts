export * from './recipient.ts';
export * from './register-client.ts';
export * from './software-statement.ts';

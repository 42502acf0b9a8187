import { type DestinationStream, type Logger, type LoggerOptions, pino, stdTimeFunctions } from 'pino';

/**
 * Structured JSON logs with level names and ISO times (readable in any log store without pino's
 * numeric table); anything that can carry a secret is redacted before it is written.
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-wso2-mutual-auth-cert"]',
        'headers.authorization',
        '*.password',
        '*.client_secret',
        '*.clientSecret',
        'password',
        'client_secret',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

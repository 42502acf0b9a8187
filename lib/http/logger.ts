import { type Logger, pino } from 'pino';

/** Structured JSON logs; anything that can carry a secret is redacted before it is written. */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
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
  });
}

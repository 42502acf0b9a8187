import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { type ConformanceReport, formatReport, junitReport } from '../../scripts/lib/conformance/index.ts';

/** The conformance run's reports, and the independence of its cases from the code they check. */

const report: ConformanceReport = {
  target: 'https://gateway.example:8243',
  passed: 1,
  failed: 1,
  skipped: 1,
  seconds: 2.5,
  cases: [
    {
      id: 'alg.none',
      rule: 'J1 alg is PS256 or ES256',
      title: 'alg none is refused',
      status: 'passed',
      seconds: 0.1,
    },
    {
      id: 'jti.replay',
      rule: 'J7 a request jti is used once',
      title: 'a replayed jti is refused',
      status: 'failed',
      detail: 'expected HTTP 400 invalid_client_metadata, got HTTP 201',
      exchanges: [
        { request: 'POST https://gateway.example:8243/open-banking/0.2/register', answer: 'HTTP 201 {}' },
      ],
      seconds: 0.2,
    },
    {
      id: 'get.wrong-certificate',
      rule: 'A3 the token is refused over another certificate',
      title: 'an unbound token is refused',
      status: 'skipped',
      detail: 'needs another trusted certificate',
      seconds: 0,
    },
  ],
};

describe('conformance reports', () => {
  it('JUnit: one test case per case, grouped by rule id, the failure with its rule, request and answer', () => {
    const suite = new XMLParser({ ignoreAttributes: false }).parse(junitReport(report)).testsuites.testsuite;
    expect(suite).toMatchObject({ '@_tests': '3', '@_failures': '1', '@_skipped': '1' });
    const [passed, failed, skipped] = suite.testcase;
    expect(passed).toMatchObject({
      '@_classname': 'obkit.conformance.dcr.J1',
      '@_name': 'alg.none: alg none is refused',
    });
    expect(failed.failure['@_message']).toBe(
      'J7 a request jti is used once: expected HTTP 400 invalid_client_metadata, got HTTP 201',
    );
    expect(failed.failure['#text']).toBe(
      'request: POST https://gateway.example:8243/open-banking/0.2/register\nanswer: HTTP 201 {}',
    );
    expect(skipped.skipped['@_message']).toBe('needs another trusted certificate');
  });

  it('text: a line per case, the failure with its rule, request and answer, then the counts', () => {
    expect(formatReport(report)).toBe(
      [
        '✓ alg.none: alg none is refused',
        '✗ jti.replay: a replayed jti is refused',
        '    rule: J7 a request jti is used once (docs/dcr-rules.md)',
        '    failure: expected HTTP 400 invalid_client_metadata, got HTTP 201',
        '    request: POST https://gateway.example:8243/open-banking/0.2/register',
        '    answer:  HTTP 201 {}',
        '- get.wrong-certificate: an unbound token is refused',
        '    skipped: needs another trusted certificate',
        'conformance dcr against https://gateway.example:8243: 1 passed, 1 failed, 1 skipped (2.5 s)',
      ].join('\n'),
    );
  });
});

describe('conformance cases', () => {
  it('import nothing of the identity server, its tests or obkit’s recipient kit: only jose, x509, undici', async () => {
    const dir = join(import.meta.dirname, '..', '..', 'scripts', 'lib', 'conformance');
    const allowed =
      /^(jose|undici|@peculiar\/x509|fast-xml-parser|reflect-metadata|node:[a-z_/]+|\.\/[a-z-]+\.ts|\.\.\/(report|target)\.ts)$/;
    const imports: string[] = [];
    for (const file of await readdir(dir)) {
      const source = await readFile(join(dir, file), 'utf8');
      for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g))
        imports.push(`${file}: ${match[1]}`);
    }
    expect(imports.length).toBeGreaterThan(10);
    expect(imports.filter((entry) => !allowed.test(entry.split(': ')[1]!))).toEqual([]);
  });
});

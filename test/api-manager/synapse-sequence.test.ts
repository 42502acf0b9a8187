import { describe, expect, it } from 'vitest';
import { parseMediationExpression, parseSynapseSequence } from '../../lib/gateway-feed/snapshot.ts';

describe('the Synapse subset the native gateway runs', () => {
  it('parses header and property mediators in document order', () => {
    expect(
      parseSynapseSequence(`<?xml version="1.0"?>
        <sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
          <!-- comment -->
          <property name="p" expression="$trp:X-Forwarded-For" scope="default"/>
          <header name="h" value="a &amp; b" scope="transport"/>
        </sequence>`),
    ).toEqual([
      { kind: 'property', name: 'p', action: 'set', scope: 'default', expression: '$trp:X-Forwarded-For' },
      { kind: 'header', name: 'h', action: 'set', scope: 'transport', value: 'a & b' },
    ]);
  });

  it.each([
    ['<sequence><log level="full"/></sequence>', '<log>'],
    ['<sequence><call><endpoint/></call></sequence>', '<call>'],
    [
      '<sequence><header name="h" expression="get-property(\'SYSTEM_TIME\')" scope="transport"/></sequence>',
      'SYSTEM_TIME',
    ],
    ['<sequence><header name="h" expression="//soap:Body" scope="transport"/></sequence>', '//soap:Body'],
    ['<sequence><header name="h" value="v"/></sequence>', 'scope'],
    ['<sequence><property name="p" value="v" scope="axis2"/></sequence>', 'axis2'],
    [
      '<sequence><header name="h" value="v" expression="$trp:a" scope="transport"/></sequence>',
      'exactly one',
    ],
    ['<!DOCTYPE x [<!ENTITY a "b">]><sequence/>', 'DOCTYPE'],
    ['<sequence><header name="h"', 'well-formed'],
  ])('rejects %s naming %s', (xml, named) => {
    expect(() => parseSynapseSequence(xml)).toThrow(named);
  });

  it('parses expressions for the gateway to evaluate', () => {
    expect(parseMediationExpression("get-property('api.ut.consumerKey')")).toEqual({
      type: 'property',
      name: 'api.ut.consumerKey',
    });
    expect(parseMediationExpression('$trp:Authorization')).toEqual({
      type: 'transportHeader',
      name: 'Authorization',
    });
    expect(parseMediationExpression("'literal'")).toEqual({ type: 'literal', value: 'literal' });
    expect(parseMediationExpression("wso2:vault-lookup('obkit.dcr.backend.authorization')")).toEqual({
      type: 'vaultLookup',
      alias: 'obkit.dcr.backend.authorization',
    });
  });

  it('refuses a vault alias that is not a plain file name', () => {
    for (const alias of ['../admin-credential.json', '..', '.hidden', 'a/b', '']) {
      expect(() => parseMediationExpression(`wso2:vault-lookup('${alias}')`), alias).toThrow(
        /unsupported expression/,
      );
    }
  });
});

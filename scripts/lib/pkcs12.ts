import { createHash, createHmac, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import * as asn1 from 'asn1js';

/**
 * A PKCS#12 truststore as Java's keytool writes one (`keytool -importcert -storetype PKCS12`): one
 * certificate bag per trusted CA, with its alias as `friendlyName` and Oracle's trusted-key-usage
 * attribute (without it Java ignores a certificate that has no private key), in unencrypted content,
 * integrity-protected by an HMAC-SHA256 MAC keyed from the store password (RFC 7292 appendix B).
 * WSO2 reads it as `client-truststore` (type PKCS12) or merges it with `keytool -importkeystore`.
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  oracleTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;
const ITERATIONS = 10_000;

export interface TrustedCertificate {
  alias: string;
  /** PEM of one certificate. */
  pem: string;
}

export function writePkcs12Truststore(entries: TrustedCertificate[], password: string): Buffer {
  const bags = entries.map(
    (entry) =>
      new asn1.Sequence({
        value: [
          new asn1.ObjectIdentifier({ value: OID.certBag }),
          explicit0(
            new asn1.Sequence({
              value: [
                new asn1.ObjectIdentifier({ value: OID.x509Certificate }),
                explicit0(new asn1.OctetString({ valueHex: new X509Certificate(entry.pem).raw })),
              ],
            }),
          ),
          new asn1.Set({
            value: [
              attribute(OID.friendlyName, new asn1.BmpString({ value: entry.alias })),
              attribute(
                OID.oracleTrustedKeyUsage,
                new asn1.ObjectIdentifier({ value: OID.anyExtendedKeyUsage }),
              ),
            ],
          }),
        ],
      }),
  );
  const safeContents = der(new asn1.Sequence({ value: bags }));
  const authenticatedSafe = der(new asn1.Sequence({ value: [dataContentInfo(safeContents)] }));
  const salt = randomBytes(32);
  const mac = createHmac('sha256', macKey(password, salt, ITERATIONS))
    .update(authenticatedSafe)
    .digest();
  const pfx = new asn1.Sequence({
    value: [
      new asn1.Integer({ value: 3 }),
      dataContentInfo(authenticatedSafe),
      new asn1.Sequence({
        value: [
          new asn1.Sequence({
            value: [
              new asn1.Sequence({
                value: [new asn1.ObjectIdentifier({ value: OID.sha256 }), new asn1.Null()],
              }),
              new asn1.OctetString({ valueHex: mac }),
            ],
          }),
          new asn1.OctetString({ valueHex: salt }),
          new asn1.Integer({ value: ITERATIONS }),
        ],
      }),
    ],
  });
  return der(pfx);
}

/** Reads a truststore this module wrote (unencrypted certificate bags); verifies the MAC first. */
export function readPkcs12Truststore(file: Buffer, password: string): TrustedCertificate[] {
  const pfx = parse(file, 'PKCS12 file');
  const authSafeBytes = contentInfoData(child(pfx, 1));
  const macData = (pfx as asn1.Sequence).valueBlock.value[2] as asn1.Sequence | undefined;
  if (!macData) throw new Error('PKCS12 truststore has no MAC: refusing an unprotected file');
  const digestInfo = child(macData, 0);
  const algorithm = (child(child(digestInfo, 0), 0) as asn1.ObjectIdentifier).valueBlock.toString();
  if (algorithm !== OID.sha256)
    throw new Error(`PKCS12 MAC algorithm ${algorithm} is not supported (SHA-256 only)`);
  const expected = Buffer.from((child(digestInfo, 1) as asn1.OctetString).valueBlock.valueHexView);
  const salt = Buffer.from((child(macData, 1) as asn1.OctetString).valueBlock.valueHexView);
  const iterations = (macData.valueBlock.value[2] as asn1.Integer | undefined)?.valueBlock.valueDec ?? 1;
  const actual = createHmac('sha256', macKey(password, salt, iterations))
    .update(authSafeBytes)
    .digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new Error('PKCS12 truststore integrity check failed: wrong password or a modified file');
  }
  const entries: TrustedCertificate[] = [];
  for (const contentInfo of (parse(authSafeBytes, 'authenticated safe') as asn1.Sequence).valueBlock.value) {
    const contents = parse(contentInfoData(contentInfo), 'safe contents') as asn1.Sequence;
    for (const bag of contents.valueBlock.value) {
      if ((child(bag, 0) as asn1.ObjectIdentifier).valueBlock.toString() !== OID.certBag) continue;
      const certBag = child(child(bag, 1), 0);
      const certDer = Buffer.from((child(child(certBag, 1), 0) as asn1.OctetString).valueBlock.valueHexView);
      let alias = '';
      for (const attr of ((bag as asn1.Sequence).valueBlock.value[2] as asn1.Set | undefined)?.valueBlock
        .value ?? []) {
        if ((child(attr, 0) as asn1.ObjectIdentifier).valueBlock.toString() === OID.friendlyName) {
          alias = (child(child(attr, 1), 0) as asn1.BmpString).valueBlock.value;
        }
      }
      entries.push({ alias, pem: new X509Certificate(certDer).toString() });
    }
  }
  return entries;
}

/** RFC 7292 B.2 with SHA-256, ID 3 (MAC key), 32 bytes out. */
export function macKey(password: string, salt: Buffer, iterations: number): Buffer {
  const v = 64;
  const fill = (bytes: Buffer) =>
    bytes.length === 0 ? Buffer.alloc(0) : Buffer.alloc(v * Math.ceil(bytes.length / v), bytes);
  const passwordBmp = Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
  let digest = Buffer.concat([Buffer.alloc(v, 3), fill(salt), fill(passwordBmp)]);
  for (let i = 0; i < iterations; i++) digest = createHash('sha256').update(digest).digest();
  return digest;
}

function attribute(oid: string, value: asn1.BaseBlock): asn1.Sequence {
  return new asn1.Sequence({
    value: [new asn1.ObjectIdentifier({ value: oid }), new asn1.Set({ value: [value] })],
  });
}

function dataContentInfo(content: Buffer): asn1.Sequence {
  return new asn1.Sequence({
    value: [
      new asn1.ObjectIdentifier({ value: OID.data }),
      explicit0(new asn1.OctetString({ valueHex: content })),
    ],
  });
}

function explicit0(value: asn1.BaseBlock): asn1.Constructed {
  return new asn1.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [value] });
}

function contentInfoData(contentInfo: asn1.BaseBlock | undefined): Buffer {
  const type = (child(contentInfo, 0) as asn1.ObjectIdentifier).valueBlock.toString();
  if (type !== OID.data) {
    throw new Error('PKCS12 truststore has encrypted content: obkit reads only truststores it wrote');
  }
  const octets = child(child(contentInfo, 1), 0) as asn1.OctetString;
  // A constructed (BER) OCTET STRING arrives in pieces.
  if (octets.idBlock.isConstructed) {
    return Buffer.concat(
      (octets.valueBlock.value as asn1.OctetString[]).map((piece) =>
        Buffer.from(piece.valueBlock.valueHexView),
      ),
    );
  }
  return Buffer.from(octets.valueBlock.valueHexView);
}

function child(block: asn1.BaseBlock | undefined, index: number): asn1.BaseBlock {
  const value = (block as asn1.Sequence | undefined)?.valueBlock?.value?.[index];
  if (!value) throw new Error('PKCS12 truststore is malformed');
  return value;
}

function parse(bytes: Buffer, what: string): asn1.BaseBlock {
  const parsed = asn1.fromBER(new Uint8Array(bytes));
  if (parsed.offset === -1) throw new Error(`${what} is not DER: ${parsed.result.error}`);
  return parsed.result;
}

function der(block: asn1.BaseBlock): Buffer {
  return Buffer.from(block.toBER(false));
}

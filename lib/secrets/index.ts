export { type EncryptionKeys, encryptionKeysOf } from './encryption-key.ts';
export { resealColumn, type SealedColumn, sealPlaintextSigningKeys } from './reseal.ts';
export { hashSecret, SecretBox, secretMatchesHash, UnknownEncryptionKey } from './secret-box.ts';

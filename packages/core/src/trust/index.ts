export {
  createSigner,
  createTrustRoot,
  generateSigningKey,
  keyIdOf,
  type SignatureCheck,
  type Signer,
  type TrustedKey,
  type TrustedKeyInput,
  type TrustRoot,
} from './keys.js';
export {
  assertVersionTrusted,
  checkVersionTrust,
  SignatureInvalidError,
  signVersion,
  VERSION_SIGNATURE_PREFIX,
  type VersionTrustCode,
  type VersionTrustFailure,
  versionSigningText,
} from './versions.js';

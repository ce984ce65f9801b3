/**
 * A throwaway self-signed certificate for 127.0.0.1, generated per test run with the `openssl`
 * command (node:crypto cannot make certificates). Fakes that must speak HTTPS (Azure Key Vault:
 * its SDK refuses bearer tokens over plain HTTP) serve it, and clients trust exactly this
 * certificate through a custom agent (`new https.Agent({ ca: cert })`): nothing process-wide such
 * as NODE_TLS_REJECT_UNAUTHORIZED is touched.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificate {
  /** PEM certificate (also the CA to trust: it signs itself). */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

export async function selfSignedCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'summit-tls-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    try {
      await run(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          keyFile,
          '-out',
          certFile,
          '-days',
          '2',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { timeout: 30_000 },
      );
    } catch (error) {
      throw new Error(
        `cannot generate the test certificate with openssl (is it installed?): ${(error as Error).message}`,
      );
    }
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

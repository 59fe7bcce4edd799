import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** `tls` in the coordinator config: PEM files of the certificate (chain) and its private key, given together. */
const pemPath = (field: string, other: string) =>
  z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? `tls.${field} is missing: give tls.cert and tls.key (--tls-cert, --tls-key) together, or neither`
          : undefined,
    })
    .min(1, `tls.${field} needs a file path (${other} is set)`);
export const TlsConfigSchema = z.strictObject({ cert: pemPath('cert', 'tls.key'), key: pemPath('key', 'tls.cert') });
export type TlsConfig = z.output<typeof TlsConfigSchema>;

export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

function readPem(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(
      `TLS ${what} file ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** Reads and checks both files up front, so a wrong file is named at start rather than failing every handshake. */
export function loadTlsCredentials(config: TlsConfig): TlsCredentials {
  const cert = readPem('certificate', config.cert);
  const key = readPem('key', config.key);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`TLS certificate file ${config.cert} is not a PEM certificate (${(e as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new Error(`TLS key file ${config.key} is not an unencrypted PEM private key (${(e as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new Error(`TLS key file ${config.key} does not match the certificate in ${config.cert}`);
  return { cert, key };
}

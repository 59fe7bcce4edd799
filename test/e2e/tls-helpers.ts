import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';

export interface TestCertificate {
  cert: string;
  key: string;
  /** The certificate's PEM text, which clients trust as their CA (it is self-signed). */
  pem: string;
}

/**
 * A fresh self-signed P-256 certificate, valid one day, written into `dir`: for 127.0.0.1,
 * localhost and fedserve.test (a name the browser test maps to 127.0.0.1, so its origin is not
 * loopback, which browsers would count as a secure context even over http).
 */
export function makeCertificate(dir: string, name = 'coordinator'): TestCertificate {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:fedserve.test',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

/** GET over https trusting only `ca`; resolves with the status and the body text. */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

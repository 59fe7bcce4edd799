import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FatalClientError } from '../../client/node-client.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { startCoordinator } from '../../server/app.js';
import { BIN, JOIN_TOKEN, nextRounds } from './helpers.js';
import { secureSuite, startSecureClient, startSecureCoordinator, type SecureTestClient } from './secagg-helpers.js';
import { httpsGet, makeCertificate, type TestCertificate } from './tls-helpers.js';
import { silentLogger } from '../../server/logger.js';

/**
 * TLS on the coordinator's own port: https REST and wss socket.io with a certificate made at test
 * time; clients trust it only through `ca`, and refuse it without.
 */

const suite = secureSuite();
function certificate(): TestCertificate {
  const dir = suite.dataDir();
  mkdirSync(dir, { recursive: true });
  return makeCertificate(dir);
}

describe('coordinator over TLS', () => {
  it('3 NodeClients trusting the certificate complete a secure round over wss, and REST answers over https', async () => {
    const tls = certificate();
    const server = await startSecureCoordinator(suite.dataDir(), suite.model(), 3, {
      tls: { cert: tls.cert, key: tls.key },
      rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000, minResults: 2 },
    });
    suite.defer(() => server.close());
    expect(server.url).toBe(`https://127.0.0.1:${server.port}`);
    expect(server.logs.join('\n')).toContain(`listening on https://127.0.0.1:${server.port}`);

    const done = nextRounds(server, 1);
    const cs: SecureTestClient[] = [0, 1, 2].map((i) => startSecureClient(server.url, i, `c${i}`, { ca: tls.pem }));
    for (const c of cs) suite.defer(() => c.stop());
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    expect(record.secureAggregation!.survivors).toEqual(['c0', 'c1', 'c2']);

    const health = await httpsGet(`${server.url}/v1/health`, tls.pem);
    expect(health.status).toBe(200);
    const rounds = await httpsGet(`${server.url}/v1/rounds`, tls.pem);
    expect(rounds.status).toBe(200);
    expect(JSON.parse(rounds.body).rounds.at(-1)).toMatchObject({ round: 1, status: 'committed' });
    // The same port does not answer plain http.
    await expect(fetch(`http://127.0.0.1:${server.port}/v1/health`)).rejects.toThrow();
  });

  it('a NodeClient without the CA stops at once with a clear error, and `fedserve client` exits 1 with it', async () => {
    const tls = certificate();
    const server = await startSecureCoordinator(suite.dataDir(), suite.model(), 3, {
      tls: { cert: tls.cert, key: tls.key },
    });
    suite.defer(() => server.close());

    const untrusted = startSecureClient(server.url, 0, 'c0');
    suite.defer(() => untrusted.stop());
    const error = await untrusted.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FatalClientError);
    expect((error as Error).message).toBe(
      "the coordinator's TLS certificate is not trusted (self-signed certificate); pass --ca FILE with the CA that signed it",
    );
    // A different self-signed certificate as the CA is no better.
    const other = makeCertificate(join(tls.cert, '..'), 'other');
    const wrongCa = startSecureClient(server.url, 1, 'c1', { ca: other.pem });
    suite.defer(() => wrongCa.stop());
    const wrongError = await wrongCa.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((wrongError as Error).message).toMatch(
      /^the coordinator's TLS certificate is not trusted \(self-signed certificate\)/,
    );

    const cli = await runCli(['client', '--server', server.url, '--token', JOIN_TOKEN, '--data', 'mnist:0/40']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(
      "fedserve: the coordinator's TLS certificate is not trusted (self-signed certificate); pass --ca FILE with the CA that signed it\n",
    );
    const badCa = await runCli([
      'client',
      '--server',
      server.url,
      '--token',
      JOIN_TOKEN,
      '--data',
      'mnist:0/40',
      '--ca',
      tls.key,
    ]);
    expect(badCa.code).toBe(1);
    expect(badCa.stderr).toBe(`fedserve: --ca ${tls.key} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`);
  });

  it('refuses a config with only one of cert and key, and names an unreadable or non-PEM file', async () => {
    const tls = certificate();
    const config = (t: unknown) => () => parseCoordinatorConfig({ port: 0, dataDir: suite.dataDir(), tls: t }, 'test');
    expect(config({ cert: tls.cert })).toThrow(
      'tls.key is missing: give tls.cert and tls.key (--tls-cert, --tls-key) together, or neither',
    );
    expect(config({ key: tls.key })).toThrow('tls.cert is missing');

    const start = (t: { cert: string; key: string }) => startCoordinator(config(t)(), { logger: silentLogger() });
    const missing = join(tls.cert, '..', 'missing.crt');
    await expect(start({ cert: missing, key: tls.key })).rejects.toThrow(
      `TLS certificate file ${missing} cannot be read: ENOENT`,
    );
    const junk = join(tls.cert, '..', 'junk.pem');
    await writeFile(junk, 'not a certificate\n');
    await expect(start({ cert: junk, key: tls.key })).rejects.toThrow(
      `TLS certificate file ${junk} is not a PEM certificate`,
    );
    await expect(start({ cert: tls.cert, key: junk })).rejects.toThrow(
      `TLS key file ${junk} is not an unencrypted PEM private key`,
    );
    const other = makeCertificate(join(tls.cert, '..'), 'other');
    await expect(start({ cert: tls.cert, key: other.key })).rejects.toThrow(
      `TLS key file ${other.key} does not match the certificate in ${tls.cert}`,
    );

    const cli = await runCli(['server', '--port', '0', '--data-dir', suite.dataDir(), '--tls-cert', tls.cert]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('tls.key is missing');
  });
});

/** Not spawnSync: the coordinator runs in this process and must keep answering. */
function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, FEDSERVE_JOIN_TOKEN: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

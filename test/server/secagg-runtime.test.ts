import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverConfigFromArgs } from '../../cli/server-args.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { IdentityRegistry } from '../../server/secagg-identities.js';
import { checkSecureAggregationConfig } from '../../server/secagg-runtime.js';
import { identityKeyFromText, identityKeyToText } from '../../shared/protocol/secagg-messages.js';
import { generateIdentity } from '../../shared/secagg/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-secagg-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('secureAggregation config', () => {
  it('is off by default, and the flags set every field', () => {
    expect(serverConfigFromArgs([], {}).secureAggregation).toEqual({
      enabled: false,
      clip: 1,
      maxWeight: 10_000,
      phaseTimeoutMs: 10_000,
    });
    const c = serverConfigFromArgs(
      [
        '--secure-aggregation',
        'on',
        '--secagg-k',
        '6',
        '--secagg-threshold',
        '4',
        '--secagg-clip',
        '0.5',
        '--audit-dir',
        '/tmp/audit',
        '--min-clients',
        '3',
      ],
      {},
    );
    expect(c.secureAggregation).toEqual({
      enabled: true,
      k: 6,
      threshold: 4,
      clip: 0.5,
      maxWeight: 10_000,
      phaseTimeoutMs: 10_000,
      auditDir: '/tmp/audit',
    });
    expect(serverConfigFromArgs(['--secure-aggregation', 'off'], {}).secureAggregation.enabled).toBe(false);
  });

  it('refuses bad values, naming them', () => {
    expect(() => serverConfigFromArgs(['--secure-aggregation', 'yes'], {})).toThrow(
      "--secure-aggregation takes on or off, got 'yes'",
    );
    expect(() => parseCoordinatorConfig({ secureAggregation: { k: 4, threshold: 5 } }, 'test')).toThrow(
      /threshold cannot exceed k/,
    );
    expect(() => parseCoordinatorConfig({ secureAggregation: { k: 10, threshold: 5 } }, 'test')).toThrow(
      /threshold must be at least 6 for k = 10/,
    );
    expect(() => parseCoordinatorConfig({ secureAggregation: { threshold: 2 } }, 'test')).not.toThrow();
    expect(() => parseCoordinatorConfig({ secureAggregation: { clip: 0 } }, 'test')).toThrow(/secureAggregation\.clip/);
    expect(() => parseCoordinatorConfig({ secureAggregation: { enable: true } }, 'test')).toThrow(/enable/);
  });

  it('needs 3 clients per round and room for its stages inside the training deadline', () => {
    const on = (extra: object) => parseCoordinatorConfig({ secureAggregation: { enabled: true }, ...extra }, 'test');
    expect(() => checkSecureAggregationConfig(on({}))).toThrow(
      /at least 3 clients per round .* strategy\.sampler\.minClients is 2/,
    );
    expect(() =>
      checkSecureAggregationConfig(
        on({ strategy: { sampler: { minClients: 3 } }, rounds: { trainingTimeoutMs: 30_000 } }),
      ),
    ).toThrow(/rounds\.trainingTimeoutMs \(30000\) must exceed 4 x secureAggregation\.phaseTimeoutMs \(40000\)/);
    expect(() => checkSecureAggregationConfig(on({ strategy: { sampler: { minClients: 3 } } }))).not.toThrow();
    expect(() => checkSecureAggregationConfig(parseCoordinatorConfig({}, 'test'))).not.toThrow();
  });
});

describe('IdentityRegistry', () => {
  const joinAuth = (name: string | undefined, key?: Uint8Array) => ({
    token: 't',
    protocolVersion: 1,
    ...(name ? { name } : {}),
    ...(key ? { identityKey: identityKeyToText(key) } : {}),
  });

  it('binds a name to the key it first joined with, across restarts', async () => {
    const file = join(dir, 'identities.json');
    const alice = generateIdentity().publicKey;
    const registry = new IdentityRegistry(file);
    const secure = { requireKey: true };
    const plaintext = { requireKey: false };
    expect(registry.admit(joinAuth('alice'), secure)).toMatch(/must present an Ed25519 identity key/);
    // Without secure aggregation a keyless join is let in while its name is not bound to a key.
    expect(registry.admit(joinAuth('alice'), plaintext)).toBeUndefined();
    expect(registry.admit(joinAuth('alice', alice), secure)).toBeUndefined();
    registry.register('alice', joinAuth('alice', alice));
    registry.register('client-1f2e', joinAuth(undefined, generateIdentity().publicKey));
    expect(registry.keyOf('alice')).toEqual(alice);
    expect(registry.keyOf('nobody')).toBeUndefined();
    // Unnamed clients get a fresh id per connection: only names are kept.
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')))).toEqual(['alice']);

    const restarted = new IdentityRegistry(file);
    expect(restarted.keyOf('alice')).toEqual(alice);
    for (const mode of [secure, plaintext]) {
      expect(restarted.admit(joinAuth('alice', alice), mode)).toBeUndefined();
      expect(restarted.admit(joinAuth('alice', generateIdentity().publicKey), mode)).toMatch(
        /^client name 'alice' is registered with another identity key/,
      );
      expect(restarted.admit(joinAuth('bob', generateIdentity().publicKey), mode)).toBeUndefined();
    }
    // A bound name cannot be taken over by leaving the key out, in either mode.
    expect(restarted.admit(joinAuth('alice'), plaintext)).toBe(
      "client name 'alice' is bound to an identity key; a join under it must present that key",
    );
    expect(restarted.admit(joinAuth('alice'), secure)).toMatch(/must present an Ed25519 identity key/);
  });

  it('refuses a torn registry file with an error naming it and the remedy, and drops temp files of interrupted writes', async () => {
    const sub = await mkdtemp(join(dir, 'torn-'));
    const file = join(sub, 'identities.json');
    const alice = generateIdentity().publicKey;
    new IdentityRegistry(file).register('alice', joinAuth('alice', alice));
    const whole = await readFile(file, 'utf8');
    await writeFile(join(sub, '.identities.json.tmp-00112233aabbccdd'), whole.slice(0, 20));
    expect(new IdentityRegistry(file).keyOf('alice')).toEqual(alice);
    expect(await readdir(sub)).toEqual(['identities.json']);
    await writeFile(file, whole.slice(0, whole.length - 10));
    expect(() => new IdentityRegistry(file)).toThrow(
      new RegExp(`identity registry ${file} is not valid JSON \\(.*\\); restore it from a backup, or delete it`),
    );
  });

  it('refuses a damaged registry file, naming it', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ alice: 'not a key' }));
    expect(() => new IdentityRegistry(file)).toThrow(`identity registry ${file} is malformed`);
  });

  it('identity keys round-trip through their join-handshake text', () => {
    const key = generateIdentity().publicKey;
    expect(identityKeyToText(key)).toHaveLength(43);
    expect(identityKeyFromText(identityKeyToText(key))).toEqual(key);
    expect(() => identityKeyFromText('short')).toThrow(/32-byte Ed25519 public key/);
  });
});

import type { ClientPolicy } from '../../shared/protocol/task-policy.js';

/**
 * The page's client policy from its URL, the browser's equivalent of the CLI flags:
 * `require-secure-aggregation=1`, `min-noise-multiplier=Z`, `max-clip-norm=C`.
 */
export function parsePolicyParams(params: URLSearchParams): ClientPolicy {
  const positive = (name: string): number | undefined => {
    const text = params.get(name);
    if (text === null) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value <= 0)
      throw new Error(`${name} needs a positive number, got '${text}'`);
    return value;
  };
  const secure = params.get('require-secure-aggregation');
  if (secure !== null && secure !== '1' && secure !== '0')
    throw new Error(`require-secure-aggregation takes 1 or 0, got '${secure}'`);
  const minNoiseMultiplier = positive('min-noise-multiplier');
  const maxClipNorm = positive('max-clip-norm');
  return {
    requireSecureAggregation: secure === '1',
    ...(minNoiseMultiplier !== undefined ? { minNoiseMultiplier } : {}),
    ...(maxClipNorm !== undefined ? { maxClipNorm } : {}),
  };
}

/** One line for the page log, so the person running the page sees what it will refuse. */
export function describePolicy(policy: ClientPolicy): string {
  const parts = [
    policy.requireSecureAggregation ? 'secure aggregation required' : 'plaintext refused once a secure round ran',
    ...(policy.minNoiseMultiplier !== undefined ? [`DP noise multiplier >= ${policy.minNoiseMultiplier}`] : []),
    ...(policy.maxClipNorm !== undefined ? [`DP clip norm <= ${policy.maxClipNorm}`] : []),
  ];
  return `policy: ${parts.join(', ')}`;
}

/** Tokens that differ from `token` only a little; every one must be refused. */
export function nearMisses(token: string): [string, string][] {
  return [
    ['empty', ''],
    ['prefix', token.slice(0, -1)],
    ['first character', token.slice(0, 1)],
    ['suffix', token.slice(1)],
    ['longer at the end', `${token}x`],
    ['longer at the start', `x${token}`],
    ['twice', token.repeat(2)],
    ['same length, last character changed', `${token.slice(0, -1)}${token.endsWith('a') ? 'b' : 'a'}`],
    ['other case', token.toUpperCase()],
    ['padded with a space', `${token} `],
    ['with a NUL appended', `${token}\u0000`],
  ];
}

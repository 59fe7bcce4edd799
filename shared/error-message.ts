/** The message of a thrown value: an Error's own, anything else (a rejected string, say) as text. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

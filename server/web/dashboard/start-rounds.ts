/**
 * The admin "start rounds" control: asks for the admin token once per browser tab (kept in
 * sessionStorage, never in the page's URL), then POSTs /v1/rounds with it as a bearer token.
 */

const TOKEN_KEY = 'fedserve.adminToken';

function askForToken(dialog: HTMLDialogElement, field: HTMLInputElement): Promise<string | undefined> {
  field.value = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' && field.value ? field.value : undefined), { once: true });
  });
}

export interface StartResult {
  ok: boolean;
  message: string;
}

export async function startRounds(rounds: number, dialog: HTMLDialogElement, field: HTMLInputElement): Promise<StartResult> {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? (await askForToken(dialog, field));
  if (!token) return { ok: false, message: 'cancelled: no admin token given' };
  const res = await fetch('/v1/rounds', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ rounds }),
  });
  const body = (await res.json().catch(() => ({}))) as { error?: string; queued?: number; firstRound?: number };
  if (res.status === 401 || res.status === 403) sessionStorage.removeItem(TOKEN_KEY);
  if (!res.ok) return { ok: false, message: `refused (HTTP ${res.status}): ${body.error ?? res.statusText}` };
  sessionStorage.setItem(TOKEN_KEY, token);
  return { ok: true, message: `queued ${body.queued} round(s), starting with round ${body.firstRound}` };
}

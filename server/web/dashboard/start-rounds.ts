import { adminToken } from './admin-token.js';

/**
 * The admin "start rounds" control: asks for the admin token once per browser tab (see
 * admin-token.ts), then POSTs /v1/rounds with it as a bearer token.
 */

function askForToken(dialog: HTMLDialogElement, field: HTMLInputElement): Promise<string | undefined> {
  field.value = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => resolve(dialog.returnValue === 'ok' && field.value ? field.value : undefined),
      { once: true },
    );
  });
}

export interface StartResult {
  ok: boolean;
  message: string;
}

export async function startRounds(
  rounds: number,
  dialog: HTMLDialogElement,
  field: HTMLInputElement,
): Promise<StartResult> {
  const token = adminToken.get() ?? (await askForToken(dialog, field));
  if (!token) return { ok: false, message: 'cancelled: no admin token given' };
  const res = await fetch('/v1/rounds', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ rounds }),
  });
  const body = (await res.json().catch(() => ({}))) as { error?: string; queued?: number; firstRound?: number };
  if (res.status === 401 || res.status === 403) adminToken.forget();
  if (!res.ok) return { ok: false, message: `refused (HTTP ${res.status}): ${body.error ?? res.statusText}` };
  adminToken.set(token);
  return { ok: true, message: `queued ${body.queued} round(s), starting with round ${body.firstRound}` };
}

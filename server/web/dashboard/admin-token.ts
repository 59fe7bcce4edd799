/**
 * The admin token of this browser tab: kept in sessionStorage (gone when the tab closes), never
 * in the page's URL. Shared by the "start rounds" control and the dashboard's admin view.
 */

const TOKEN_KEY = 'fedserve.adminToken';

export const adminToken = {
  get: (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  set: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  forget: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

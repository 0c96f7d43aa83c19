// The signed-in user's JWT pair from simplejwt, shared by every tab of the site.
//
// The login page trades the password for a pair at /api/token/; the chat gives the hub
// connection an access token through `accessTokenFactory`, which the SignalR client calls
// before every (re)connect. An access token about to expire is first swapped for a fresh
// one at /api/token/refresh/. When the refresh token itself is refused, the user must
// sign in again.
//
// localStorage is shared by the tabs of the site, and readable by any script on its pages:
// keep them free of third-party scripts (these load none), or keep tokens in memory only.

const KEY = "django-hubs-demo.tokens";

export class SignInRequired extends Error {}

export function saveTokens({ access, refresh }) {
  localStorage.setItem(KEY, JSON.stringify({ access, refresh }));
}

export function loadTokens() {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
}

export function clearTokens() {
  localStorage.removeItem(KEY);
}

// The claims of a token (read only: the server checks the signature).
export function claims(token) {
  const base64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(base64));
}

export function secondsLeft(token) {
  return claims(token).exp - Date.now() / 1000;
}

export async function obtainTokens(url, username, password) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (response.status === 401) throw new SignInRequired("Your username and password didn't match.");
  if (!response.ok) throw new Error(`The server refused the sign-in (${response.status}).`);
  const pair = await response.json();
  saveTokens(pair);
  return pair;
}

// An access token good for a while longer, refreshed when needed.
export async function freshAccessToken(refreshUrl) {
  const tokens = loadTokens();
  if (!tokens?.access || !tokens?.refresh) throw new SignInRequired("Sign in to connect.");
  const { exp, iat } = claims(tokens.access);
  const margin = Math.min(10, (exp - iat) / 4);
  if (secondsLeft(tokens.access) > margin) return tokens.access;

  const response = await fetch(refreshUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh: tokens.refresh }),
  });
  if (response.status === 401) {
    clearTokens();
    throw new SignInRequired("Your session ended: please sign in again.");
  }
  if (!response.ok) throw new Error(`Refreshing the access token failed (${response.status}).`);
  const fresh = await response.json();
  saveTokens({ access: fresh.access, refresh: fresh.refresh ?? tokens.refresh });
  return fresh.access;
}

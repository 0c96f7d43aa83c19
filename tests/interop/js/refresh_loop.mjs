// Authentication refresh (.NET 11) with the 10.x official client, which does not refresh on
// its own: a small loop reads tokenLifetimeSeconds from negotiate (through the client's
// httpClient option), fetches a new token from the site's token endpoint halfway through each
// lifetime and POSTs it to {url}/refresh?id={connectionToken}. The 11.x client does this itself.
// A second connection, same short token, no loop: the server must close it at its expiry.
import { connect, options, report, signalR, until } from "./common.mjs";

const fetchToken = async () => (await fetch(options.tokenUrl)).text();

// Sees each negotiate answer the client gets (the connection token and the token's lifetime),
// and puts the newest token on every request: the 10.x client keeps the one it negotiated with
// for sends and polls, and its retry with a new one never runs (its fetch client throws on 401).
class NegotiateTap extends signalR.DefaultHttpClient {
  constructor(holder) {
    super(signalR.NullLogger.instance);
    this.holder = holder;
    this.negotiated = null;
  }
  async send(request) {
    request.headers = { ...request.headers, Authorization: `Bearer ${this.holder.token}` };
    const response = await super.send(request);
    if (request.url.includes("/negotiate")) this.negotiated = JSON.parse(response.content);
    return response;
  }
}

async function open(token) {
  const holder = { token };
  const tap = new NegotiateTap(holder);
  const connection = connect(options.url, {
    http: { httpClient: tap, accessTokenFactory: () => holder.token },
  });
  const state = { closed: false, closeError: undefined, refreshes: [] };
  connection.onclose((error) => {
    state.closed = true;
    state.closeError = error ? error.message : null;
  });
  await connection.start();
  return { connection, tap, holder, state };
}

function refreshLoop(client) {
  const { tap, holder, state } = client;
  const negotiated = tap.negotiated;
  const connectionToken = negotiated.connectionToken ?? negotiated.connectionId; // version 0: the id
  let timer = null;
  const schedule = (lifetimeSeconds) => {
    timer = setTimeout(refresh, (lifetimeSeconds * 1000) / 2);
  };
  async function refresh() {
    const token = await fetchToken();
    const response = await fetch(`${options.url}/refresh?id=${encodeURIComponent(connectionToken)}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = await response.json();
    state.refreshes.push({ status: response.status, body });
    if (response.status !== 200) return; // a refused refresh ends the loop; the connection then expires
    holder.token = token; // later HTTP requests (long polls, sends) carry it too
    if (state.refreshes.length < options.maxRefreshes) schedule(body.tokenLifetimeSeconds);
  }
  schedule(negotiated.tokenLifetimeSeconds);
  return () => clearTimeout(timer);
}

const refreshed = await open(await fetchToken());
const unrefreshed = await open(await fetchToken());
const lifetime = refreshed.tap.negotiated.tokenLifetimeSeconds;
const firstExpiry = Date.now() + lifetime * 1000;
const stop = refreshLoop(refreshed);

// The unrefreshed connection is closed at its token's expiry; the refreshed one lives on past it.
await until(() => unrefreshed.state.closed, 20000);
await until(() => Date.now() > firstExpiry + 1500 && refreshed.state.refreshes.length >= 2, 20000);
const user = await refreshed.connection.invoke("whoami");
const hookCalls = await refreshed.connection.invoke("hook_calls");
const stateAfter = refreshed.connection.state;
stop();
await refreshed.connection.stop();

report({
  transport: options.transport ?? null,
  lifetime,
  refreshedState: stateAfter,
  refreshes: refreshed.state.refreshes,
  unrefreshedCloseError: unrefreshed.state.closeError,
  user,
  hookCalls,
  // For the test to check that neither reached the server's log.
  connectionTokens: [refreshed, unrefreshed].map(({ tap }) => tap.negotiated.connectionToken),
});

// Keep-alive, then automatic reconnect after the server process restarts.
// Phase 1: idle for `idleMs` with a short server timeout; the server's pings keep it up.
// Phase 2: prints {"ready": ...}; the test restarts the server on the same port; the
// client must fire onreconnecting, then onreconnected with a new connection id, and
// invoke again. Options: {url, serverTimeoutMs, idleMs}.
import { connect, options, report, sleep, until, wireTap } from "./common.mjs";

const tap = wireTap();
const connection = connect(options.url, {
  // Quick retries, then every 2 s for about 20 s: a restart on a loaded machine can be slow.
  reconnect: [0, 250, 250, 500, 500, 1000, 1000, 1000, ...Array(10).fill(2000)],
  http: tap.http,
  configure: (builder) => tap.configure(builder).withServerTimeout(options.serverTimeoutMs),
});
const events = { order: [], reconnecting: [], reconnected: [], closes: [] };
connection.onreconnecting((error) => {
  events.order.push("reconnecting");
  events.reconnecting.push(error ? String(error.message) : null);
});
connection.onreconnected((connectionId) => {
  events.order.push("reconnected");
  events.reconnected.push(connectionId);
});
connection.onclose((error) => {
  events.order.push("close");
  events.closes.push(error ? String(error.message) : null);
});

await connection.start();
const firstId = connection.connectionId;
await sleep(options.idleMs);
const idle = {
  state: connection.state,
  serverTimeoutInMilliseconds: connection.serverTimeoutInMilliseconds,
  pingsReceived: tap.received.filter((record) => record.type === 6).length,
  events: structuredClone(events),
  add: await connection.invoke("add", 1, 2),
};

console.log(JSON.stringify({ ready: firstId }));
await until(() => events.reconnected.length > 0 || events.closes.length > 0, 40000);
report({
  firstId,
  idle,
  events,
  state: connection.state,
  connectionId: connection.connectionId,
  afterReconnect: connection.state === "Connected" ? await connection.invoke("GetConnectionId") : null,
});

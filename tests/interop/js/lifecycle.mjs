// Connection lifecycle seen by the client: the OnConnected greeting, a hub-side abort and
// an OnConnected that raises (neither reconnects, even with withAutomaticReconnect), and
// skipNegotiation straight to WebSockets.
// Options: {url}.
import { connect, errorOf, options, report, signalR, sleep, until, wireTap } from "./common.mjs";

// Watches a connection's events; `closed` resolves with the onclose error text (or null).
function watch(connection) {
  const events = { reconnecting: 0, reconnected: 0, closes: [] };
  connection.onreconnecting(() => events.reconnecting++);
  connection.onreconnected(() => events.reconnected++);
  connection.onclose((error) => events.closes.push(error === undefined ? null : String(error.message ?? error)));
  return events;
}

const result = {};

// 1. ?greet=1: OnConnected sends Welcome(connectionId) to the caller, first after the handshake.
{
  const tap = wireTap();
  const connection = connect(`${options.url}?greet=1`, { http: tap.http, configure: tap.configure });
  const welcomes = [];
  connection.on("Welcome", (connectionId) => welcomes.push(connectionId));
  await connection.start();
  await until(() => welcomes.length > 0);
  result.greet = {
    connectionId: connection.connectionId,
    welcomes,
    firstRecords: tap.received.slice(0, 2),
    add: await connection.invoke("add", 1, 1),
  };
  await connection.stop();
}

// 2. The hub aborts the connection: a bare Close, onclose without an error, no reconnect.
{
  const tap = wireTap();
  const connection = connect(options.url, { reconnect: [0, 0, 0], http: tap.http, configure: tap.configure });
  const events = watch(connection);
  await connection.start();
  const invokeError = await errorOf(connection.invoke("abort"));
  await until(() => events.closes.length > 0);
  await sleep(300); // a reconnect attempt would start at once (first delay 0)
  result.abort = {
    invokeError,
    events,
    state: connection.state,
    closeRecords: tap.received.filter((record) => record.type === 7),
  };
}

// 3. OnConnected raises (?fail_connect=1): start() rejects or onclose fires with the error; no reconnect.
{
  const tap = wireTap();
  const connection = connect(`${options.url}?fail_connect=1`, {
    reconnect: [0, 0, 0],
    http: tap.http,
    configure: tap.configure,
  });
  const events = watch(connection);
  const startError = await errorOf(connection.start());
  if (startError === null) await until(() => events.closes.length > 0);
  await sleep(300);
  result.failConnect = {
    error: startError ?? events.closes[0],
    events,
    state: connection.state,
    closeRecords: tap.received.filter((record) => record.type === 7),
  };
}

// 4. skipNegotiation: no negotiate, so no connection id on the client; calls still work.
{
  const connection = connect(options.url, {
    http: { skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets },
  });
  await connection.start();
  result.skipNegotiation = {
    connectionId: connection.connectionId,
    add: await connection.invoke("add", 20, 22),
    serverConnectionId: await connection.invoke("GetConnectionId"),
  };
  await connection.stop();
}

report(result);

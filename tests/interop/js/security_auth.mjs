// Access tokens with the official client (Node: the Authorization header on negotiate and
// on the WebSocket): who the hub sees, a refused token, and a connection the server closes
// when its token expires, which reconnects with the fresh token the factory hands out.
import { connect, errorOf, options, report, until } from "./common.mjs";

let expired = false;
let reconnectingError = "not fired";
const connection = connect(options.url, {
  http: { accessTokenFactory: () => (expired ? options.longToken : options.shortToken) },
  reconnect: [0, 0, 0],
});
connection.onreconnecting((error) => {
  expired = true;
  reconnectingError = error ? error.message : null;
});
let reconnected = false;
connection.onreconnected(() => {
  reconnected = true;
});

await connection.start();
const firstId = connection.connectionId;
const before = await connection.invoke("whoami");
await until(() => reconnected, 15000);
const after = await connection.invoke("whoami");
const secondId = connection.connectionId;
await connection.stop();

const refused = connect(options.url, { http: { accessTokenFactory: () => options.badToken } });
const refusedError = await errorOf(refused.start());

report({ before, after, reconnectingError, newConnection: firstId !== secondId, refusedError });

// Transport selection: which transports negotiate offers, and which one a client that
// accepts them all ends up on. With options.blockWebSocket the client's WebSocket is sent
// to a path where the server refuses the upgrade, as a proxy blocking WebSockets would.
import { createRequire } from "node:module";
import { connect, options, report } from "./common.mjs";
import { transportLog } from "./transport_common.mjs";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");

function BlockedWebSocket(url, protocols, init) {
  const blocked = new URL(url);
  blocked.pathname = "/no-websockets-here";
  return new WebSocket(blocked.toString(), protocols, init);
}
Object.assign(BlockedWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });

const negotiated = await fetch(`${options.url}/negotiate?negotiateVersion=1`, { method: "POST" });
const available = (await negotiated.json()).availableTransports;

const log = transportLog();
const http = options.blockWebSocket ? { WebSocket: BlockedWebSocket } : {};
const connection = connect(options.url, { http, configure: (builder) => builder.configureLogging(log.logger) });
await connection.start();
const result = {
  available,
  selected: log.selected(),
  add: await connection.invoke("Add", 2, 3),
};
await connection.stop();
report(result);

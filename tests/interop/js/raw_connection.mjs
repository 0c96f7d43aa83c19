// The official client's transport layer alone (HttpConnection, no hub protocol) against a
// django-hubs ConnectionHandler (tests/testapp/raw.py EchoHandler), over options.transport
// in options.format ("Text" or "Binary"): echo, a server-initiated send, a server close,
// a client stop seen by on_disconnected, and a handler that raises.
import { createRequire } from "node:module";
import { options, report, signalR, sleep, until } from "./common.mjs";

const require = createRequire(import.meta.url);
// Not exported at the package's top level in every version: taken from its module.
const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");

const format = signalR.TransferFormat[options.format];

function shown(data) {
  return typeof data === "string" ? { text: data } : { bytes: Array.from(new Uint8Array(data)) };
}

async function open() {
  const connection = new HttpConnection(options.url, {
    transport: signalR.HttpTransportType[options.transport],
    logger: signalR.NullLogger.instance,
  });
  const received = [];
  const closed = { seen: false, error: null };
  connection.onreceive = (data) => received.push(shown(data));
  connection.onclose = (error) => {
    closed.seen = true;
    closed.error = error ? error.message : null;
  };
  await connection.start(format);
  return { connection, received, closed };
}

// The next message, as the client got it (long polling may join what was queued together).
async function next(peer) {
  await until(() => peer.received.length > 0);
  return peer.received.shift();
}

async function ask(peer, data) {
  await peer.connection.send(data);
  return next(peer);
}

const result = {};

// Echo, both ways, and sends of the server's own.
const a = await open();
result.welcome = await next(a);
result.echo = await ask(a, "héllo\u001e\nsecond line");
result.later = await ask(a, "later");
if (options.format === "Binary") result.binaryEcho = await ask(a, new Uint8Array([0, 1, 255]));
const aId = a.connection.connectionId;
result.idLength = aId.length;

// The client stops: the handler's on_disconnected runs (asked through another connection).
await a.connection.stop();
result.aClosed = a.closed;
const b = await open();
await next(b); // welcome
let left = {};
for (let i = 0; i < 50 && !(aId in left); i++) {
  const answer = await ask(b, "left");
  left = JSON.parse(answer.text ?? new TextDecoder().decode(new Uint8Array(answer.bytes)));
  if (!(aId in left)) await sleep(100);
}
result.onDisconnected = aId in left ? { seen: true, reason: left[aId] } : { seen: false };

// The server closes: the client sees its connection close.
await b.connection.send("close");
await until(() => b.closed.seen);
result.serverClose = b.closed;

// A handler that raises ends that connection only.
const failing = await open();
await next(failing);
result.failingId = failing.connection.connectionId;
await failing.connection.send("raise");
await until(() => failing.closed.seen);
result.failed = failing.closed;
const other = await open();
await next(other);
result.otherEcho = await ask(other, "still served");
await other.connection.stop();

report(result);

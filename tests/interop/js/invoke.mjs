// Invocations with results, sends without one, name folding, and the error texts of
// /hubs/test (generic) and /hubs/detailed, each followed by a call proving the
// connection is still usable. A wire tap records every frame for the no-Completion checks.
// Options: {url, detailedUrl, value}.
import { connect, errorOf, options, report, until, wireTap } from "./common.mjs";

const tap = wireTap();
const connection = connect(options.url, { http: tap.http, configure: tap.configure });
const messages = [];
connection.on("ReceiveMessage", (user, message) => messages.push([user, message]));
await connection.start();

// A failing call's error text, and whether the connection still answers Add(2, 2) after it.
async function failing(target, call) {
  const error = await errorOf(call);
  const sum = await target.invoke("add", 2, 2).catch(() => null);
  return [error, sum === 4];
}

const result = {
  connectionId: connection.connectionId,
  add: await connection.invoke("Add", 1, 2),
  addLower: await connection.invoke("add", 40, 2),
  echo: await connection.invoke("echo", options.value),
  nothing: await connection.invoke("nothing"),
  folded: [
    await connection.invoke("GetConnectionId"),
    await connection.invoke("getConnectionId"),
    await connection.invoke("get_connection_id"),
  ],
  errors: {
    fail: await failing(connection, connection.invoke("fail")),
    refuse: await failing(connection, connection.invoke("refuse")),
    unknown: await failing(connection, connection.invoke("nope")),
    tooFew: await failing(connection, connection.invoke("add", 1)),
    tooMany: await failing(connection, connection.invoke("add", 1, 2, 3)),
    wrongType: await failing(connection, connection.invoke("add", 1, "x")),
    streamAsInvoke: await failing(connection, connection.invoke("counter", 3)),
    secret: await failing(connection, connection.invoke("secret")),
  },
};

// Sends: the hub's side effect (a broadcast back to us) proves each ran; none gets a Completion.
await connection.send("send_message", "u", "one");
await connection.send("SendMessage", "u", "two");
await connection.send("sendMessage", "u", "three");
await connection.send("echo", "fire and forget");
await connection.send("fail");
await connection.send("nope");
await connection.send("add", 1);
await connection.send("counter", 3);
await until(() => messages.length >= 3);
result.stillConnected = await connection.invoke("add", 2, 2);
result.messages = messages;
await connection.stop();

const invocations = tap.sent.filter((record) => record.type === 1);
result.wire = {
  handshakeReply: tap.received[0],
  invokeIds: invocations.filter((record) => "invocationId" in record).map((record) => record.invocationId),
  sendTargets: invocations.filter((record) => !("invocationId" in record)).map((record) => record.target),
  completionIds: tap.received.filter((record) => record.type === 3).map((record) => record.invocationId),
  serverTargets: tap.received.filter((record) => record.type === 1).map((record) => record.target),
  otherTypes: [...new Set(tap.received.slice(1).map((record) => record.type))].filter((type) => ![1, 3, 6, 7].includes(type)),
  close: tap.received.filter((record) => record.type === 7),
};

// The same failures with detailed errors on.
const detailed = connect(options.detailedUrl);
await detailed.start();
result.detailed = {
  fail: await failing(detailed, detailed.invoke("fail")),
  refuse: await failing(detailed, detailed.invoke("refuse")),
  unknown: await failing(detailed, detailed.invoke("nope")),
  tooFew: await failing(detailed, detailed.invoke("add", 1)),
  wrongType: await failing(detailed, detailed.invoke("add", 1, "x")),
  streamAsInvoke: await failing(detailed, detailed.invoke("counter", 3)),
  secret: await failing(detailed, detailed.invoke("secret")),
};
await detailed.stop();
report(result);

// Server-to-client fan-out across three connections a, b, c: every way a hub addresses
// clients, and groups joined and left. Each connection records exactly what reached its
// handlers; a final broadcast to all works as a barrier (per-connection order is kept).
// Options: {url}.
import { connect, options, report, until } from "./common.mjs";

const names = ["a", "b", "c"];
const connections = {};
const received = {};
const barrier = {};
for (const name of names) {
  const connection = connect(options.url);
  received[name] = [];
  barrier[name] = false;
  // c registers its handler in lower case: clients match server targets ignoring case.
  connection.on(name === "c" ? "receive" : "Receive", (how, message) => received[name].push(`${how} ${message}`));
  connection.on("ReceiveMessage", (user, message) => {
    if (message === "end") barrier[name] = true;
    else received[name].push(`all ${message}`);
  });
  await connection.start();
  connections[name] = connection;
}
const { a, b, c } = connections;
const id = Object.fromEntries(names.map((name) => [name, connections[name].connectionId]));

await a.invoke("SendMessage", "a", "m0");
await a.invoke("ToOthers", "m1");
await a.invoke("ToCaller", "m2");
await a.invoke("ToConnection", id.c, "m3");
await a.invoke("ToConnections", [id.a, id.b], "m4");
await a.invoke("ToAllExcept", [id.b], "m5");

await a.invoke("Join", "g1");
await b.invoke("join", "g1");
await c.invoke("join", "g2");
await c.invoke("ToGroup", "g1", "m6");
await a.invoke("ToGroups", ["g1", "g2"], "m7");
await b.invoke("ToGroupExcept", "g1", [id.a], "m8");
await a.invoke("ToOthersInGroup", "g1", "m9");
await b.invoke("Leave", "g1");
await a.invoke("ToGroup", "g1", "m10");
await b.invoke("ToGroup", "g1", "m11");
await c.invoke("ToGroup", "nobody-here", "m12");
await c.invoke("Leave", "g2");
await c.invoke("Leave", "never-joined");
await a.invoke("ToGroups", ["g1", "g2"], "m13");

await a.invoke("SendMessage", "a", "end");
await until(() => names.every((name) => barrier[name]));
for (const name of names) await connections[name].stop();
report({ ids: id, received });

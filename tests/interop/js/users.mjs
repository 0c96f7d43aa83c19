// User addressing with authenticated connections: two connections of alice, one of bob,
// each with its own access token (sent as `Authorization: Bearer` by the Node client).
// Also per-method @authorize with a user and with a permission.
// Options: {url, tokens: {alice, bob}}.
import { connect, options, report, until } from "./common.mjs";

const names = ["alice1", "alice2", "bob"];
const connections = {};
const received = {};
const barrier = {};
for (const name of names) {
  const token = options.tokens[name.replace(/\d$/, "")];
  const connection = connect(options.url, { http: { accessTokenFactory: () => token } });
  received[name] = [];
  barrier[name] = false;
  connection.on("Receive", (how, message) => received[name].push(`${how} ${message}`));
  connection.on("ReceiveMessage", (user, message) => {
    if (message === "end") barrier[name] = true;
  });
  await connection.start();
  connections[name] = connection;
}
const { alice1, alice2, bob } = connections;
const who = {};
for (const name of names) who[name] = await connections[name].invoke("whoami");
if (Object.values(who).includes(null)) {
  // The server did not authenticate the token: report that alone, clearly.
  for (const name of names) await connections[name].stop();
  report({ who, received: null, authorization: null });
}

await alice1.invoke("ToUser", who.alice1, "u1");
await bob.invoke("ToUser", who.alice1, "u2");
await alice2.invoke("ToUser", who.bob, "u3");
await bob.invoke("ToUsers", [who.alice1, who.bob], "u4");
await alice1.invoke("ToUsers", [who.bob], "u5");
await bob.invoke("ToUser", "no-such-user", "u6");
await alice1.invoke("SendMessage", "alice", "end");
await until(() => names.every((name) => barrier[name]));

const errorOrValue = (promise) => promise.then((value) => ({ value }), (error) => ({ error: error.message }));
const authorization = {
  aliceSecret: await errorOrValue(alice1.invoke("secret")),
  aliceModerate: await errorOrValue(alice1.invoke("moderate")),
  bobModerate: await errorOrValue(bob.invoke("moderate")),
  aliceAfter: await errorOrValue(alice1.invoke("add", 1, 1)),
};
for (const name of names) await connections[name].stop();
report({ who, received, authorization });

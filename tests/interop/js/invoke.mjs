// Invocations with results, void methods, name folding and error texts.
import { connect, errorOf, options, report } from "./common.mjs";

const connection = connect();
await connection.start();
const result = {
  connectionId: connection.connectionId,
  add: await connection.invoke("Add", 1, 2),
  addLower: await connection.invoke("add", 40, 2),
  echo: await connection.invoke("echo", { nested: [1, "two", null], text: "é\u001e" }),
  nothing: await connection.invoke("nothing"),
  folded: [
    await connection.invoke("GetConnectionId"),
    await connection.invoke("getConnectionId"),
    await connection.invoke("get_connection_id"),
  ],
  fail: await errorOf(connection.invoke("fail")),
  refuse: await errorOf(connection.invoke("refuse")),
  unknown: await errorOf(connection.invoke("nope")),
  tooFew: await errorOf(connection.invoke("add", 1)),
  tooMany: await errorOf(connection.invoke("add", 1, 2, 3)),
  wrongType: await errorOf(connection.invoke("add", 1, "x")),
  streamAsInvoke: await errorOf(connection.invoke("counter", 3)),
  secret: await errorOf(connection.invoke("secret")),
};
await connection.send("echo", "fire and forget");
await connection.send("nope");
result.stillConnected = await connection.invoke("add", 2, 2);
await connection.stop();
report(result);

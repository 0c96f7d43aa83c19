// A clean start, one invocation and stop() on one transport, as an application ends a session.
// Options: {url, transport}.
import { connect, options, report } from "./common.mjs";

const connection = connect(options.url);
const received = [];
connection.on("ReceiveMessage", (user, message) => received.push([user, message]));
await connection.start();
await connection.invoke("SendMessage", "ada", "bye");
const connectionId = connection.connectionId;
await connection.stop();
report({ connectionId, received, state: connection.state });

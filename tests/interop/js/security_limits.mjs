// A message over HUBS_MAX_MESSAGE_SIZE closes the connection that sent it with the official
// error text; another connection of the same server carries on.
import { connect, errorOf, options, report } from "./common.mjs";

// The limits server drops clients silent for over 1.5 s: ping often.
const fastPings = (builder) => builder.withKeepAliveInterval(200);
const sender = connect(options.url, { configure: fastPings });
const other = connect(options.url, { configure: fastPings });
await sender.start();
await other.start();

const closed = new Promise((resolve) => sender.onclose((error) => resolve(error ? error.message : null)));
const invokeError = await errorOf(sender.invoke("echo", "x".repeat(options.size)));
const closeError = await closed;
const otherResult = await other.invoke("add", 1, 2);
await other.stop();
report({ invokeError, closeError, otherResult });

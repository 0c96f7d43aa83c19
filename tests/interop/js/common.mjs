// Shared by the interop scripts: the official client, a builder, and how to report.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const signalR = require("@microsoft/signalr");
export const msgpack = require("@microsoft/signalr-protocol-msgpack");

// Options come from the command line as JSON: {url, transport, protocol, accessToken, ...}.
export const options = JSON.parse(process.argv[2] ?? "{}");

export function connect(url = options.url, extra = {}) {
  const httpOptions = { ...extra.http };
  if (options.transport) httpOptions.transport = signalR.HttpTransportType[options.transport];
  if (options.accessToken) httpOptions.accessTokenFactory = () => options.accessToken;
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(url, httpOptions)
    .configureLogging(signalR.LogLevel[extra.logLevel ?? "None"]);
  if ((extra.protocol ?? options.protocol) === "messagepack") {
    builder = builder.withHubProtocol(new msgpack.MessagePackHubProtocol());
  }
  if (extra.reconnect) builder = builder.withAutomaticReconnect(extra.reconnect === true ? undefined : extra.reconnect);
  if (extra.configure) builder = extra.configure(builder);
  return builder.build();
}

export async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return error.message;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(10);
  }
}

export function report(result) {
  console.log(JSON.stringify(result));
  process.exit(0);
}

process.on("unhandledRejection", (error) => {
  console.error(error);
  process.exit(1);
});

// A wire tap: every WebSocket text frame the client sends and receives, parsed into records.
// Pass `tap.http` and `tap.configure` to connect(); the client logs frame contents at Trace
// level with logMessageContent, and the tap reads them back instead of printing them.
export function wireTap() {
  const tap = { sent: [], received: [] };
  const pattern = /^\(WebSockets transport\) (sending data|data received)\. String data of length \d+\. Content: '([\s\S]*)'\.$/;
  tap.logger = {
    log(level, message) {
      const match = pattern.exec(message);
      if (!match) return;
      const records = match[2].split("\x1e").filter((record) => record.length > 0);
      (match[1] === "sending data" ? tap.sent : tap.received).push(...records.map((record) => JSON.parse(record)));
    },
  };
  tap.http = { logMessageContent: true };
  tap.configure = (builder) => builder.configureLogging(tap.logger);
  return tap;
}

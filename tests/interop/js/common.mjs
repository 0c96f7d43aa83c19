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

// A long-lived client process driven by the tests, one JSON command per stdin line, one
// JSON answer per stdout line: for scenarios that interleave clients, servers and Redis.
import * as readline from "node:readline";
import { connect, signalR } from "./common.mjs";

const connections = new Map();
const RECEIVED = ["Receive", "ReceiveMessage", "Left", "Welcome", "Number"];

async function handle(command) {
  const { op, name } = command;
  const entry = connections.get(name);
  switch (op) {
    case "connect": {
      const messages = [];
      const events = [];
      const connection = connect(command.url, {
        protocol: command.protocol,
        reconnect: command.reconnect,
        configure: (builder) => {
          if (command.stateful) builder = builder.withStatefulReconnect();
          if (command.serverTimeoutMs) builder = builder.withServerTimeout(command.serverTimeoutMs);
          if (command.keepAliveMs) builder = builder.withKeepAliveInterval(command.keepAliveMs);
          return builder;
        },
        http: {
          ...(command.transport ? { transport: signalR.HttpTransportType[command.transport] } : {}),
          ...(command.accessToken ? { accessTokenFactory: () => command.accessToken } : {}),
        },
      });
      for (const target of RECEIVED) connection.on(target, (...args) => messages.push([target, ...args]));
      connection.on("Ask", (question) => `${name} answers ${question}`);
      connection.onreconnecting((error) => events.push(["reconnecting", error ? error.message : null]));
      connection.onreconnected((id) => events.push(["reconnected", id]));
      connection.onclose((error) => events.push(["close", error ? error.message : null]));
      await connection.start();
      connections.set(name, { connection, messages, events });
      return { connectionId: connection.connectionId };
    }
    case "invoke":
      try {
        return { result: (await entry.connection.invoke(command.method, ...(command.args ?? []))) ?? null };
      } catch (error) {
        return { error: error.message };
      }
    case "send":
      await entry.connection.send(command.method, ...(command.args ?? []));
      return {};
    case "sendmany": {
      // In the background: the test drops the socket while these are on their way.
      (async () => {
        for (let i = 0; i < command.count; i++) {
          await entry.connection.send(command.method, i);
          await new Promise((resolve) => setTimeout(resolve, command.delayMs ?? 10));
        }
      })().catch((error) => entry.events.push(["sendmany-error", error.message]));
      return {};
    }
    case "stream": {
      // In the background: items go to messages as ["StreamItem", item], the end to events.
      entry.connection.stream(command.method, ...(command.args ?? [])).subscribe({
        next: (item) => entry.messages.push(["StreamItem", item]),
        complete: () => entry.events.push(["stream-complete", null]),
        error: (error) => entry.events.push(["stream-error", error.message]),
      });
      return {};
    }
    case "received":
      return { messages: entry.messages.splice(0) };
    case "wait": {
      const deadline = Date.now() + (command.timeoutMs ?? 5000);
      while (entry.messages.length < command.count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return { messages: entry.messages.splice(0) };
    }
    case "state":
      return {
        state: entry.connection.state,
        connectionId: entry.connection.connectionId,
        events: entry.events,
      };
    case "stop":
      await entry.connection.stop();
      connections.delete(name);
      return {};
    case "exit":
      for (const { connection } of connections.values()) await connection.stop();
      process.exit(0);
    default:
      throw new Error(`unknown op ${op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (error) {
    answer = { failure: String(error && error.stack ? error.stack : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}

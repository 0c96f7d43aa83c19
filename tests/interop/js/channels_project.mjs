// The official client against tests/channels_project (a hub routed with ChatHub.as_asgi() in the
// project's own URLRouter), WebSockets forced (or options.transport): who the hub sees, the project's scope key, a group message.
import { connect, options, report, signalR, until } from "./common.mjs";

const http = {
  transport: signalR.HttpTransportType[options.transport ?? "WebSockets"],
  ...(options.skipNegotiation ? { skipNegotiation: true } : {}),
  ...(options.headers ? { headers: options.headers } : {}),
};
const a = connect(options.url, { http });
const b = connect(options.url, { http });
const received = [];
b.on("ReceiveMessage", (sender, message) => received.push([sender, message]));
await a.start();
await b.start();
const who = await a.invoke("whoami");
const project = await a.invoke("scope_value", "project");
await a.invoke("join", "room");
await b.invoke("join", "room");
const sender = await a.invoke("get_connection_id");
await a.invoke("send_to_room", "room", "hello");
await until(() => received.length > 0);
const transport = a.connection?.transport?.constructor?.name ?? null;
await a.stop();
await b.stop();
report({ who, project, received, sender, transport });

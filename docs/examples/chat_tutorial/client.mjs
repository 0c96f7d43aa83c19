// The same chat from Node: npm install @microsoft/signalr, then
// node client.mjs http://127.0.0.1:8000/hubs/chat
import * as signalR from "@microsoft/signalr";

const url = process.argv[2] ?? "http://127.0.0.1:8000/hubs/chat";
const connection = new signalR.HubConnectionBuilder()
  .withUrl(url)
  .configureLogging(signalR.LogLevel.Warning)
  .build();

const received = new Promise((resolve) => {
  connection.on("ReceiveMessage", (user, message) => resolve([user, message]));
});

await connection.start();
await connection.invoke("SendMessage", "node", "hello from Node");
let refusal = null;
try {
  await connection.invoke("SendMessage", "node", "");
} catch (error) {
  refusal = error.message;
}
console.log(JSON.stringify({ received: await received, refusal }));
await connection.stop();

// The hub features over the transport named in options.transport (ServerSentEvents or
// LongPolling), with the protocol in options.protocol: results, sends, broadcasts from
// another connection, errors, streams both ways, client results and stop().
import { connect, errorOf, options, report, signalR, until } from "./common.mjs";
import { RecordingHttpClient } from "./transport_common.mjs";

const http = new RecordingHttpClient();
const received = { a: [], b: [] };
const closed = {};

function build(name, extra = {}) {
  const connection = connect(options.url, extra);
  connection.on("ReceiveMessage", (user, message) => received[name].push([user, message]));
  connection.on("Left", (id) => received[name].push(["left", id]));
  connection.on("Ask", (question) => `${name} answers ${question}`);
  connection.onclose((error) => {
    closed[name] = error ? error.message : "clean";
  });
  return connection;
}

const a = build("a", { http: { httpClient: http } });
const b = build("b");
await a.start();
await b.start();
const startRequests = http.requests.length;

const result = {
  state: a.state,
  add: await a.invoke("Add", 1, 2),
  echo: await a.invoke("Echo", { text: "é\n\u001e", list: [1, null, "two"] }),
  nothing: await a.invoke("Nothing"),
  fail: await errorOf(a.invoke("Fail")),
  refuse: await errorOf(a.invoke("Refuse")),
  unknown: await errorOf(a.invoke("Nope")),
  tooFew: await errorOf(a.invoke("Add", 1)),
};

// send() is fire-and-forget; its broadcast reaches both connections.
await a.send("SendMessage", "a", "sent by a");
await b.invoke("SendMessage", "b", "invoked by b");
await until(() => received.a.length >= 2 && received.b.length >= 2);
result.receivedByA = received.a.slice(0, 2);
result.receivedByB = received.b.slice(0, 2);

// Server-to-client stream.
result.counter = await new Promise((resolve, reject) => {
  const items = [];
  a.stream("Counter", 4).subscribe({
    next: (item) => items.push(item),
    error: reject,
    complete: () => resolve(items),
  });
});
result.streamError = await new Promise((resolve) => {
  a.stream("Add", 1, 2).subscribe({ next: () => {}, error: (e) => resolve(e.message), complete: () => resolve(null) });
});

// Client-to-server stream.
const subject = new signalR.Subject();
const upload = a.invoke("UploadSum", subject);
for (const n of [1, 2, 3, 4]) subject.next(n);
subject.complete();
result.upload = await upload;

// Client results: the hub awaits the client's handler's return value.
result.askCaller = await a.invoke("AskCaller", "q1");
result.askOther = await b.invoke("AskClient", a.connectionId, "q2");

const aId = a.connectionId;
await a.stop();
await until(() => received.b.some(([kind, id]) => kind === "left" && id === aId));
result.leftSeenByB = true;
result.closedA = closed.a;
result.stillWorksB = await b.invoke("Add", 20, 22);
await b.stop();
result.closedB = closed.b;

result.startRequests = http.requests.slice(0, startRequests);
result.laterRequests = http.requests.slice(startRequests);
report(result);

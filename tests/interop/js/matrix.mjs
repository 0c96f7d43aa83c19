// One cell of the interop matrix: every hub feature over the transport in options.transport
// and the protocol in options.protocol, against the same TestHub. Invocations, sends and
// handlers, streams both ways (items, errors, cancellation, uploads ending every way),
// client results (values, failures, timeouts, disconnects) and closes.
// Options: {url, detailedUrl, transport, protocol}.
import { connect, errorOf, options, report, signalR, sleep, until } from "./common.mjs";

const tag = `${options.transport}-${options.protocol}-${process.pid}`; // keys in the hub's stream_log
const received = { a: [], b: [] };
const closed = {};
const late = { answered: false };

// The client-result handlers every full connection has; `bare` connections have none.
function build(name, url = options.url) {
  const connection = connect(url);
  // Registered in lower case: the client matches the server's "ReceiveMessage" ignoring case.
  connection.on("receivemessage", (user, message) => received[name]?.push([user, message]));
  connection.on("Ask", (question) => `${name} answers ${question}`);
  connection.on("AskAsync", async (question) => {
    await sleep(5);
    return { from: name, question, list: [1, null, "x"] };
  });
  connection.on("AskThrow", () => {
    throw new Error("client boom");
  });
  connection.on("AskUndefined", () => undefined);
  connection.on("AskLate", async () => {
    await sleep(400);
    late.answered = true;
    return "too late";
  });
  connection.onclose((error) => {
    closed[name] = error ? error.message : "clean";
  });
  return connection;
}

// Every event of a stream subscription, in order: ["next", item], ["error", text], ["complete"].
function collect(stream, { disposeAfter } = {}) {
  const events = [];
  let subscription;
  const done = new Promise((resolve) => {
    subscription = stream.subscribe({
      next: (item) => {
        events.push(["next", item]);
        if (disposeAfter !== undefined && events.length === disposeAfter) {
          subscription.dispose();
          resolve(events);
        }
      },
      error: (error) => {
        events.push(["error", error.message]);
        resolve(events);
      },
      complete: () => {
        events.push(["complete"]);
        resolve(events);
      },
    });
  });
  return done;
}

// Ask the hub for stream_log[key] until `ready(state)` holds.
async function stateOf(connection, key, ready) {
  let state = null;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    state = await connection.invoke("StreamState", key);
    if (state !== null && ready(state)) return state;
    await sleep(10);
  }
  throw new Error(`stream_log[${key}] never got ready: ${JSON.stringify(state)}`);
}

const a = build("a");
const b = build("b");
await a.start();
await b.start();
const result = { connectionId: a.connectionId, seenByHub: await a.invoke("ConnectionInfo") };

// --- invoke, send, on ------------------------------------------------------------------------

const value = { text: "é 中文 😀 \u001e \"q\" \\", nested: [1, null, { deep: [true, false, 1.5, -7] }], empty: {} };
result.invoke = {
  add: await a.invoke("Add", 1, 2),
  echo: await a.invoke("Echo", value),
  echoMatches: null,
  nothing: await a.invoke("Nothing"),
  countUsers: await a.invoke("CountUsers"), // a sync method: it runs in a thread and uses the ORM
};
result.invoke.echoMatches = JSON.stringify(result.invoke.echo) === JSON.stringify(value);
if (options.protocol === "messagepack") {
  const bytes = await a.invoke("Echo", new Uint8Array([0, 1, 254, 255]));
  result.invoke.bytes = [bytes instanceof Uint8Array, Array.from(bytes)];
}

await a.send("SendMessage", "a", "sent by a");
await b.invoke("SendMessage", "b", "invoked by b");
await until(() => received.a.length >= 2 && received.b.length >= 2);
result.send = { a: received.a.slice(0, 2), b: received.b.slice(0, 2) };

// --- server-to-client streams -----------------------------------------------------------------

const detailed = connect(options.detailedUrl);
await detailed.start();
result.stream = {
  counter: await collect(a.stream("Counter", 5)),
  values: await collect(a.stream("StreamValues", [null, { a: [1, null] }, "é\u001e", 1.5, true, ""])),
  returned: await collect(a.stream("ReturnedStream", 3)),
  failing: await collect(a.stream("FailingStream", 3)),
  failingHubError: await collect(a.stream("FailingStream", 2, true)),
  failingDetailed: await collect(detailed.stream("FailingStream", 2)),
  invokeStreaming: await errorOf(a.invoke("Counter", 3)),
  streamPlain: await collect(a.stream("Add", 1, 2)),
  streamUploadMethod: await collect(a.stream("UploadSum", new signalR.Subject())),
};
await detailed.stop();

// dispose() sends CancelInvocation: the generator's finally runs, and nothing more arrives.
{
  const key = `${tag}-ticker`;
  const events = await collect(a.stream("Ticker", key), { disposeAfter: 3 });
  // The ticker would count forever: only the cancellation can close it.
  const state = await stateOf(a, key, (s) => s.closed);
  result.stream.dispose = { events, state };
}

// --- client-to-server streams -------------------------------------------------------------------

result.upload = {};
{
  const subject = new signalR.Subject();
  const sum = a.invoke("UploadSum", subject);
  for (const n of [1, 2, 3, 4]) subject.next(n);
  subject.complete();
  result.upload.sum = await sum;
}
{
  // Two streams in one invocation, items interleaved; the method returns after consuming both.
  // A plain argument sits between them: the client's _replaceStreamingParams splices each
  // Subject out of the arguments while iterating them, so of two adjacent Subjects it skips
  // the second (sent as an argument, {"observers":[]}). tests/test_streaming.py covers
  // adjacent streams with raw messages.
  const numbers = new signalR.Subject();
  const words = new signalR.Subject();
  const pair = a.invoke("UploadPair", numbers, "+", words);
  numbers.next(1);
  words.next("x");
  numbers.next(2);
  words.next("y");
  words.complete();
  numbers.next(3);
  numbers.complete();
  result.upload.pair = await pair;
}
{
  // A stream in, a stream out.
  const subject = new signalR.Subject();
  const doubled = collect(a.stream("DoubleStream", subject));
  for (const n of [1, 2, 3]) subject.next(n);
  subject.complete();
  result.upload.doubled = await doubled;
}
{
  // The client ends its stream with an error: the hub's iterator raises it.
  const key = `${tag}-upload-error`;
  const subject = new signalR.Subject();
  const call = errorOf(a.invoke("UploadRecord", key, subject));
  subject.next(1);
  subject.error(new Error("client boom"));
  result.upload.clientError = { error: await call, state: await stateOf(a, key, (s) => s.end !== null) };
}
{
  // An upload with send(): no invocation id, and no answer, but the hub gets everything.
  const key = `${tag}-upload-send`;
  const subject = new signalR.Subject();
  await a.send("UploadRecord", key, subject);
  subject.next("s1");
  subject.next(null);
  subject.complete();
  result.upload.send = await stateOf(a, key, (s) => s.end !== null);
}
{
  // The uploading client goes away mid-stream: the hub's iterator ends with an error.
  const key = `${tag}-upload-gone`;
  const c = connect();
  await c.start();
  const subject = new signalR.Subject();
  const call = errorOf(c.invoke("UploadRecord", key, subject));
  subject.next(1);
  subject.next(2);
  const before = await stateOf(a, key, (s) => s.items.length === 2);
  await c.stop();
  result.upload.disconnect = {
    before,
    after: await stateOf(a, key, (s) => s.end !== null),
    callError: await call,
  };
}

// --- client results -------------------------------------------------------------------------------

result.clientResults = {
  caller: await a.invoke("AskCaller", "q1"),
  other: await b.invoke("AskClient", a.connectionId, "q2"),
  asyncHandler: await a.invoke("TryAsk", null, "AskAsync", "q3"),
  asyncHandlerOther: await b.invoke("TryAsk", a.connectionId, "AskAsync", "q4"),
  throws: await a.invoke("TryAsk", null, "AskThrow", "q5"),
  undefinedResult: await a.invoke("TryAsk", null, "AskUndefined", "q6"),
  noHandler: await a.invoke("TryAsk", null, "AskNobody", "q7"),
  unknownConnection: await a.invoke("TryAsk", "no-such-connection", "Ask", "q8"),
  timeout: await a.invoke("TryAsk", null, "AskLate", "q9", 0.2),
};
{
  // A connection without handlers: the hub method's HubError reaches the invoking client.
  const bare = connect();
  await bare.start();
  result.clientResults.noHandlerRaw = await errorOf(b.invoke("AskClient", bare.connectionId, "q10"));
  // It disconnects while a hub method on b waits for its answer.
  let asked = false;
  bare.on("AskNever", () => {
    asked = true;
    return new Promise(() => {});
  });
  const bareId = bare.connectionId;
  const waiting = b.invoke("TryAsk", bareId, "AskNever", "q11", 10);
  await until(() => asked);
  await bare.stop();
  result.clientResults.disconnected = { connectionId: bareId, seen: await waiting };
}
// The late answer to the timed-out call arrives and is ignored; the connection carries on.
await until(() => late.answered);
result.clientResults.afterLateAnswer = await a.invoke("Add", 20, 22);

// --- errors ---------------------------------------------------------------------------------------

result.errors = {
  fail: await errorOf(a.invoke("Fail")),
  refuse: await errorOf(a.invoke("Refuse")),
  unknown: await errorOf(a.invoke("Nope")),
  tooFew: await errorOf(a.invoke("Add", 1)),
  wrongType: await errorOf(a.invoke("Add", 1, "x")),
  secret: await errorOf(a.invoke("Secret")),
};
await a.send("Fail"); // nothing comes back for a failing send
await a.send("Counter", 3); // nor for a streaming method called by send
result.errors.stillWorks = await a.invoke("Add", 2, 2);

// --- closes ---------------------------------------------------------------------------------------

{
  const e = connect();
  const closes = [];
  e.onclose((error) => closes.push(error ? error.message : null));
  await e.start();
  const invokeError = await errorOf(e.invoke("Abort"));
  await until(() => closes.length > 0);
  result.close = { abort: { invokeError, closes, state: e.state } };
}
{
  const f = connect(`${options.url}?fail_connect=1`);
  const closes = [];
  f.onclose((error) => closes.push(error ? error.message : null));
  const startError = await errorOf(f.start());
  if (startError === null) await until(() => closes.length > 0);
  result.close.failConnect = { error: startError ?? closes[0], state: f.state };
}

const aId = a.connectionId;
await a.stop();
await b.stop();
result.close.clean = { a: closed.a, b: closed.b, aId };
report(result);

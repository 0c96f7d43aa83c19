// A stream disposed at once, and datetimes written by the server, with the official client.
// For each protocol: subscribe to a stream and dispose the subscription in the same tick
// (the client sends StreamInvocation then CancelInvocation back to back); the server must
// still end the stream (a Completion, nothing left open). Then a datetime round trip:
// JSON text (the official server writes UTC with "Z") and MessagePack timestamps (a Date).
import { connect, options, report, sleep, wireTap } from "./common.mjs";

async function openStreams(connection) {
  // Bounded: 250 polls of 20 ms at most.
  let open = null;
  for (let i = 0; i < 250; i++) {
    open = await connection.invoke("open_streams");
    if (open === 0) break;
    await sleep(20);
  }
  return open;
}

const result = {};
for (const protocol of ["json", "messagepack"]) {
  const tap = protocol === "json" ? wireTap() : null;
  const connection = connect(options.url, tap ? { protocol, http: tap.http, configure: tap.configure } : { protocol });
  await connection.start();
  const items = [];
  const subscription = connection.stream("ticker", `dispose-${protocol}-${process.pid}`).subscribe({
    next: (item) => items.push(item),
    complete: () => {},
    error: () => {},
  });
  subscription.dispose();
  const seen = { openStreams: await openStreams(connection), itemsAfterDispose: items.length };
  // The id is free again: a stream on the same connection works.
  seen.counter = await new Promise((resolve, reject) => {
    const got = [];
    connection.stream("counter", 3).subscribe({ next: (i) => got.push(i), complete: () => resolve(got), error: reject });
  });
  if (tap) {
    const started = tap.sent.find((m) => m.type === 4 && m.target === "ticker");
    const canceled = tap.sent.find((m) => m.type === 5);
    seen.cancelSent = canceled?.invocationId === started?.invocationId;
    seen.completion = tap.received.find((m) => m.type === 3 && m.invocationId === started?.invocationId) ?? null;
    seen.nextDay = await connection.invoke("next_day", "2000-01-01T00:00:00Z");
    seen.nextDayKind = typeof seen.nextDay;
    const raw = tap.received.find((m) => m.type === 3 && m.result === seen.nextDay);
    seen.nextDayOnTheWire = raw ? raw.result : null;
  } else {
    const when = new Date(Date.UTC(2000, 0, 1, 0, 0, 0, 250));
    const nextDay = await connection.invoke("next_day", when);
    seen.nextDayKind = nextDay instanceof Date ? "Date" : typeof nextDay;
    seen.nextDay = nextDay instanceof Date ? nextDay.toISOString() : nextDay;
  }
  await connection.stop();
  result[protocol] = seen;
}
report(result);

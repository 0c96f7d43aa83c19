// The typed wrappers `manage.py hubs_typescript` writes, used by the official client against a
// live server. tests/test_typescript.py generates ./hubs.ts, type-checks this file with it
// (`tsc --strict`), compiles both to JavaScript and runs this with {"url": ...} as argument.
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { Event, Point, TestHubConnection, TypedHubConnection } from "./hubs";

declare const process: { argv: string[]; exit(code?: number): never };
declare const console: { log(text: string): void; error(error: unknown): void };

const options = JSON.parse(process.argv[2] ?? "{}") as { url: string };

function open(path: string, protocol: "json" | "messagepack"): signalR.HubConnection {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(options.url + path, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None);
  if (protocol === "messagepack") {
    builder = builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

function collect<T>(stream: signalR.IStreamResult<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.subscribe({ next: (item) => items.push(item), complete: () => resolve(items), error: reject });
  });
}

async function errorOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What a value is at run time: "string", "Date", ... (MessagePack turns timestamps into Dates). */
function kind(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

async function session(protocol: "json" | "messagepack"): Promise<Record<string, unknown>> {
  const typed = new TypedHubConnection(open(TypedHubConnection.path, protocol));
  const test = new TestHubConnection(open(TestHubConnection.path, protocol));
  const notified: Event[] = [];
  const ticks: Array<[number, string]> = [];
  typed.register({
    Notify: (event) => {
      notified.push(event);
    },
  });
  typed.on("Tick", (count, at) => {
    ticks.push([count, kind(at)]);
  });
  await Promise.all([typed.connection.start(), test.connection.start()]);

  const sum: number = await typed.add(2, 3);
  const scaled: Point = await typed.scale(1.5, { x: 2, y: 4, label: "p" });
  const event: Event = await typed.makeEvent("launch");
  const inspected = await typed.inspect({
    name: "sent",
    at: "2024-05-01T14:00:00+02:00",
    color: "green",
    points: [{ x: 1, y: 2 }],
  });
  const nextDay = await typed.nextDay(new Date(Date.UTC(2024, 4, 1, 12)));
  const chosen = [await typed.choose("fast"), await typed.choose("slow", 2)];
  const points: Point[] = await collect(typed.points(3));
  const upload = new signalR.Subject<number>();
  const total = typed.total(upload);
  for (const n of [1, 2, 3]) {
    upload.next(n);
  }
  upload.complete();
  await typed.notifyMe("ping");
  const counted: number[] = await collect(test.counter(3));
  const wrongType = await errorOf(typed.add(1, "2" as unknown as number));

  await Promise.all([typed.connection.stop(), test.connection.stop()]);
  return {
    sum,
    scaled,
    event: { ...event, at: new Date(event.at).toISOString(), atKind: kind(event.at) },
    inspected,
    nextDay: new Date(nextDay).toISOString(),
    nextDayKind: kind(nextDay),
    chosen,
    points,
    total: await total,
    notified: notified.map((e) => e.name),
    ticks,
    counted,
    wrongType,
  };
}

async function main(): Promise<void> {
  const report = { json: await session("json"), messagepack: await session("messagepack") };
  console.log(JSON.stringify(report));
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

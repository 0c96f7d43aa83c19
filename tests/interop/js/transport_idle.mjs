// An idle connection on options.transport for options.idleMs: what the server sent while
// nothing happened (pings, empty polls), and whether the connection still works after.
import { connect, options, report, sleep } from "./common.mjs";
import { RecordingHttpClient } from "./transport_common.mjs";

const http = new RecordingHttpClient();
const received = [];
const pattern = /^\((?:SSE|LongPolling) transport\) data received\. String data of length \d+\. Content: '([\s\S]*)'\.$/;
const logger = {
  log(level, message) {
    const match = pattern.exec(message);
    if (match) received.push(...match[1].split("\x1e").filter(Boolean).map((record) => JSON.parse(record)));
  },
};
let closedWith = null;
const connection = connect(options.url, {
  http: { httpClient: http, logMessageContent: true },
  configure: (builder) => builder.configureLogging(logger),
});
connection.onclose((error) => {
  closedWith = error ? error.message : "clean";
});
await connection.start();
const before = http.requests.length;
await sleep(options.idleMs);
const idleRequests = http.requests.slice(before);
const result = {
  pings: received.filter((message) => message.type === 6).length,
  emptyPolls: idleRequests.filter((r) => r.method === "GET" && r.status === 200 && r.length === 0).length,
  failedRequests: idleRequests.filter((r) => r.status !== 200 && r.status !== undefined).length,
  closedWhileIdle: closedWith,
  add: await connection.invoke("Add", 40, 2),
};
await connection.stop();
report(result);

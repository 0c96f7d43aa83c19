// A browser-style client cannot set message headers: it puts a traceparent on the hub URL.
// Options: {url, transport}. Reports the trace id the hub method ran in.
import { connect, options, report } from "./common.mjs";

const connection = connect(options.url);
await connection.start();
const traceId = await connection.invoke("current_trace_id");
await connection.stop();
report({ traceId });

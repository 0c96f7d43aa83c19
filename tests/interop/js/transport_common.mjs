// Helpers of the SSE and long-polling interop scripts: what went over HTTP, and which
// transport the client picked, observed through the client's own extension points.
import { signalR } from "./common.mjs";

// The official DefaultHttpClient, recording the status and body size of every request it
// makes (negotiate, POST sends, polls, DELETE). Server-Sent Events GETs go through
// EventSource instead, so they are not listed.
export class RecordingHttpClient extends signalR.DefaultHttpClient {
  constructor() {
    super(signalR.NullLogger.instance);
    this.requests = [];
  }

  async send(request) {
    const entry = { method: request.method, path: new URL(request.url).pathname };
    this.requests.push(entry);
    try {
      const response = await super.send(request);
      entry.status = response.statusCode;
      entry.length = sizeOf(response.content);
      return response;
    } catch (error) {
      entry.status = error.statusCode ?? null;
      entry.error = error.name;
      throw error;
    }
  }
}

function sizeOf(content) {
  if (content === undefined || content === null) return 0;
  return typeof content === "string" ? content.length : content.byteLength;
}

// A logger keeping the client's debug lines, to read back which transport it selected.
export function transportLog() {
  const lines = [];
  return {
    lines,
    logger: { log: (level, message) => lines.push(message) },
    selected: () =>
      lines.map((line) => /^Selecting transport '(\w+)'\./.exec(line)).filter(Boolean).map((match) => match[1]),
  };
}

// A client on options.childTransport is killed (no Close, no DELETE); a watcher on the
// default transport sees the hub's on_disconnected broadcast "Left" with its id.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect, options, report, until } from "./common.mjs";

const left = [];
const watcher = connect(options.url, {});
watcher.on("Left", (id) => left.push(id));
await watcher.start();

const script = fileURLToPath(new URL("./transport_child.mjs", import.meta.url));
const child = spawn(process.execPath, [script, JSON.stringify({ url: options.url, transport: options.childTransport })], {
  stdio: ["ignore", "pipe", "inherit"],
});
const [line] = await once(createInterface({ input: child.stdout }), "line");
const { connectionId } = JSON.parse(line);
const seenBefore = await watcher.invoke("Add", 1, 1);
child.kill("SIGKILL");
await once(child, "exit");
await until(() => left.includes(connectionId), options.waitMs ?? 10000);
await watcher.stop();
report({ connectionId, leftSeen: left.includes(connectionId), seenBefore });

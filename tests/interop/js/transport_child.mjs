// A client that connects, prints its connection id and waits to be killed.
import { connect } from "./common.mjs";

const connection = connect();
await connection.start();
console.log(JSON.stringify({ connectionId: connection.connectionId }));
setInterval(() => {}, 1000);

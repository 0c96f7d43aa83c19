// How start() fails for options.transport and options.protocol, and which transports the
// client tried first.
import { connect, errorOf, report } from "./common.mjs";
import { transportLog } from "./transport_common.mjs";

const log = transportLog();
const connection = connect(undefined, { configure: (builder) => builder.configureLogging(log.logger) });
const error = await errorOf(connection.start());
report({ error, selected: log.selected(), state: connection.state });

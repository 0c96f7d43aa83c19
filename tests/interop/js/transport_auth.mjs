// Access tokens over Server-Sent Events and long polling (options.transports), all at once:
// the token's user reaches the hub, an @authorize hub refuses a client without one, and a
// connection ends when its token expires (options.shortToken).
import { signalR, errorOf, options, report, until } from "./common.mjs";

function build(url, transport, token) {
  const http = { transport: signalR.HttpTransportType[transport] };
  if (token) http.accessTokenFactory = () => token;
  return new signalR.HubConnectionBuilder().withUrl(url, http).configureLogging(signalR.LogLevel.None).build();
}

async function check(transport) {
  const result = {};
  // First, so that the short-lived token is still valid when it connects.
  let closed = null;
  const expiring = build(options.url, transport, options.shortToken);
  expiring.onclose((error) => {
    closed = error ? error.message : "clean";
  });
  await expiring.start();
  result.beforeExpiry = await expiring.invoke("Whoami");

  const member = build(options.privateUrl, transport, options.token);
  await member.start();
  result.whoami = await member.invoke("Whoami");
  await member.stop();

  const test = build(options.url, transport, options.token);
  await test.start();
  result.secret = await test.invoke("Secret");
  await test.stop();

  result.anonymous = await errorOf(build(options.privateUrl, transport).start());

  await until(() => closed !== null, 10000);
  result.closedAfterExpiry = closed;
  return result;
}

const results = await Promise.all(options.transports.map(check));
report(Object.fromEntries(options.transports.map((transport, i) => [transport, results[i]])));

// The chat page: one hub connection with the official client (window.signalR), rooms,
// presence, typing, private messages, a streamed task and a moderator action.
import { claims, clearTokens, freshAccessToken, loadTokens, secondsLeft, SignInRequired } from "./tokens.js";
import { $, avatar, el, messageItem, noteItem, plainError, privateItem, typingText } from "./view.js";

const config = JSON.parse($("chat-config").textContent);
const me = config.username;

// --- the connection -------------------------------------------------------------------

let lastToken = null;
let redirecting = false;

// Called by the client before every connect and reconnect (negotiate, then the WebSocket URL).
async function accessTokenFactory() {
  try {
    lastToken = await freshAccessToken(config.refreshUrl);
    return lastToken;
  } catch (error) {
    if (error instanceof SignInRequired) signInAgain();
    throw error;
  }
}

// Quick retries first, then every 10 s; after 5 minutes give up (the banner offers a button).
const retryPolicy = {
  nextRetryDelayInMilliseconds({ previousRetryCount, elapsedMilliseconds }) {
    if (elapsedMilliseconds > 5 * 60_000) return null;
    return [0, 1000, 2000, 5000][previousRetryCount] ?? 10_000;
  },
};

const connection = new signalR.HubConnectionBuilder()
  .withUrl(config.hubUrl, { accessTokenFactory })
  .withAutomaticReconnect(retryPolicy)
  .configureLogging(signalR.LogLevel.Warning)
  .build();

function signInAgain() {
  if (redirecting) return;
  redirecting = true;
  clearTokens();
  location.assign(`${config.loginUrl}?reason=expired&next=${encodeURIComponent(location.pathname)}`);
}

// --- state ----------------------------------------------------------------------------

const SAVED = "django-hubs-demo.rooms"; // this tab's rooms, so a reload comes back to them
const saved = JSON.parse(sessionStorage.getItem(SAVED) ?? "null") ?? { rooms: ["lobby"], active: "lobby" };

/** name -> {messages: Map(id -> message), online: [names], unread, typing: Map(name -> timer)} */
const rooms = new Map();
let active = null;
let connectionState = "connecting";

function save() {
  sessionStorage.setItem(SAVED, JSON.stringify({ rooms: [...rooms.keys()], active }));
}

function roomState(name) {
  let room = rooms.get(name);
  if (!room) {
    room = { messages: new Map(), online: [], unread: 0, typing: new Map() };
    rooms.set(name, room);
  }
  return room;
}

// --- what the hub calls ---------------------------------------------------------------

connection.on("ReceiveMessage", (message) => {
  const room = rooms.get(message.room);
  if (!room) return;
  room.messages.set(message.id, message);
  stopTyping(room, message.author);
  if (message.room === active) {
    appendMessage(message);
    renderTyping();
  } else {
    room.unread += 1;
    renderRooms();
  }
});

// The last Presence of every room, numbered: a Join's answer may come in the same frame as a
// newer Presence, whose handler runs before the code awaiting the answer resumes.
const presence = new Map();
let presenceSeen = 0;

connection.on("Presence", (name, usernames) => {
  presence.set(name, { seen: ++presenceSeen, usernames });
  const room = rooms.get(name);
  if (!room) return;
  room.online = usernames;
  if (name === active) renderOnline();
});

connection.on("OnlineUsers", (usernames) => renderRecipients(usernames.filter((name) => name !== me)));

connection.on("Typing", (name, username) => {
  const room = rooms.get(name);
  if (!room || username === me) return;
  clearTimeout(room.typing.get(username));
  room.typing.set(
    username,
    setTimeout(() => stopTyping(room, username), 4000),
  );
  if (name === active) renderTyping();
});

connection.on("PrivateMessage", (message) => {
  $("private-list").prepend(privateItem(message, me));
});

connection.on("RoomCleared", (name, moderator) => {
  const room = rooms.get(name);
  if (!room) return;
  room.messages.clear();
  // One line in the emptied room: who cleared it (instead of "No messages yet").
  if (name === active) renderMessages(moderator === me ? "You cleared this room." : `${moderator} cleared this room.`);
});

function stopTyping(room, username) {
  clearTimeout(room.typing.get(username));
  if (room.typing.delete(username) && room === rooms.get(active)) renderTyping();
}

// --- connecting and reconnecting --------------------------------------------------------

const STATES = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnected: "Disconnected",
};

function setConnection(state, bannerText = null) {
  connectionState = state;
  document.body.dataset.connection = state;
  $("connection").dataset.state = state;
  $("connection-text").textContent = STATES[state];
  $("banner").hidden = bannerText === null;
  $("banner").dataset.state = state;
  $("banner-text").textContent = bannerText ?? "";
  $("banner-retry").hidden = state !== "disconnected";
  updateControls();
}

async function start() {
  setConnection("connecting");
  try {
    await connection.start();
  } catch (error) {
    if (redirecting) return;
    setConnection("disconnected", `Cannot reach the server (${error.message}). Trying again in 5 seconds…`);
    setTimeout(() => connection.state === signalR.HubConnectionState.Disconnected && start(), 5000);
    return;
  }
  setConnection("connected");
  await enterRooms(saved.rooms, saved.active);
}

// After a reconnect the server knows nothing of this connection: join the rooms again and
// reload their history from the database, so what was said meanwhile shows up.
async function enterRooms(names, preferred) {
  for (const name of names) {
    try {
      await enter(name);
    } catch (error) {
      showError(error);
    }
  }
  show(rooms.has(preferred) ? preferred : (rooms.keys().next().value ?? null));
}

let tokenExpired = false;

// The hub closes a connection whose token expired, allowing a reconnect: the client then
// calls accessTokenFactory again, which refreshes the token. Say so instead of "lost".
connection.onreconnecting(() => {
  tokenExpired = lastToken !== null && secondsLeft(lastToken) < 2;
  setConnection(
    "reconnecting",
    tokenExpired
      ? "Your access token expired. Getting a new one and reconnecting…"
      : "Connection lost. Reconnecting… Your messages will be reloaded.",
  );
  for (const room of rooms.values()) for (const username of [...room.typing.keys()]) stopTyping(room, username);
  renderTyping();
});

connection.onreconnected(async () => {
  setConnection("connected");
  await enterRooms([...rooms.keys()], active);
  notify(tokenExpired ? "Reconnected with a fresh access token." : "Reconnected. Messages reloaded.");
});

connection.onclose(() => {
  if (redirecting) return;
  setConnection("disconnected", "Disconnected from the server.");
});

$("banner-retry").addEventListener("click", () => start());

// --- rooms ------------------------------------------------------------------------------

async function enter(name) {
  const asked = presenceSeen;
  const { room: canonical, online } = await connection.invoke("Join", name);
  const room = roomState(canonical);
  // A Presence since the Join went out is the join's own broadcast or newer than its answer.
  const latest = presence.get(canonical);
  room.online = latest && latest.seen > asked ? latest.usernames : online;
  const history = await connection.invoke("History", canonical);
  // The database is the reference; keep only what arrived after the history was read.
  const newest = history.length ? history[history.length - 1].id : 0;
  const later = [...room.messages.values()].filter((message) => message.id > newest);
  room.messages = new Map([...history, ...later].map((message) => [message.id, message]));
  save();
  return canonical;
}

async function leave(name) {
  try {
    await connection.invoke("Leave", name);
  } catch (error) {
    showError(error);
    return;
  }
  rooms.delete(name);
  show(active === name ? (rooms.keys().next().value ?? null) : active);
}

function show(name) {
  active = name;
  const room = rooms.get(name);
  if (room) room.unread = 0;
  save();
  renderRooms();
  renderRoom();
}

$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("join-room");
  const name = input.value.trim().toLowerCase();
  if (!name) return;
  clearError();
  try {
    show(rooms.has(name) ? name : await enter(name));
    input.value = "";
  } catch (error) {
    showError(error);
  }
});

// --- messages ---------------------------------------------------------------------------

let lastTypingSent = 0;

$("message-text").addEventListener("input", (event) => {
  if (!active || !event.target.value || connectionState !== "connected") return;
  if (Date.now() - lastTypingSent < 2000) return;
  lastTypingSent = Date.now();
  connection.send("Typing", active).catch(() => {}); // fire and forget: no answer expected
});

$("message-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("message-text");
  if (!active || !input.value.trim()) return;
  clearError();
  const text = input.value;
  try {
    await connection.invoke("SendMessage", active, text);
    if (input.value === text) input.value = ""; // not what was typed meanwhile
    lastTypingSent = 0;
  } catch (error) {
    showError(error); // the text stays in the box, to send again
  }
});

$("private-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = $("private-to").value;
  const input = $("private-text");
  if (!to || !input.value.trim()) return;
  clearError();
  const text = input.value;
  try {
    await connection.invoke("SendPrivate", to, text);
    if (input.value === text) input.value = "";
  } catch (error) {
    showError(error);
  }
});

// --- the long task: a server-to-client stream -------------------------------------------

let task = null;

function endTask() {
  task = null;
  $("task-start").hidden = false;
  $("task-cancel").hidden = true;
}

$("task-start").addEventListener("click", () => {
  clearError();
  const progress = $("task-progress");
  const status = $("task-status");
  progress.value = 0;
  status.textContent = "Starting…";
  $("task-start").hidden = true;
  $("task-cancel").hidden = false;
  task = connection.stream("LongTask", 20).subscribe({
    next: ({ step, total, percent }) => {
      progress.value = percent;
      status.textContent = `Step ${step} of ${total} (${percent}%)`;
    },
    complete: () => {
      status.textContent = "Done: all steps finished.";
      endTask();
    },
    error: (error) => {
      status.textContent = `Stopped: ${error.message}`;
      endTask();
    },
  });
});

$("task-cancel").addEventListener("click", () => {
  task?.dispose(); // sends CancelInvocation: the hub's generator is closed
  $("task-status").textContent = "Cancelled.";
  endTask();
});

// --- moderation -------------------------------------------------------------------------

// The result shows right below the button, and goes on the next action or after 8 seconds.
let moderationTimer = null;

function showModeration(kind, text) {
  const result = $("moderation-result");
  result.className = `moderation-result ${kind}`;
  result.textContent = text;
  result.hidden = false;
  clearTimeout(moderationTimer);
  moderationTimer = setTimeout(clearModeration, 8000);
}

function clearModeration() {
  clearTimeout(moderationTimer);
  $("moderation-result").hidden = true;
}

$("clear-room").addEventListener("click", async () => {
  if (!active) return;
  clearError();
  try {
    const deleted = await connection.invoke("ClearRoom", active);
    showModeration("notice", `Deleted ${deleted} message${deleted === 1 ? "" : "s"}.`);
  } catch (error) {
    // The hub answers a user without chat.moderate with its generic "unauthorized" text.
    showModeration(
      "error",
      /\bunauthorized\b/.test(error.message ?? "")
        ? "Only moderators can clear a room: you need the chat.moderate permission."
        : plainError(error),
    );
  }
});

// --- rendering --------------------------------------------------------------------------

function updateControls() {
  const connected = connectionState === "connected";
  for (const control of document.querySelectorAll("[data-needs-connection]")) {
    control.disabled = !connected || (control.hasAttribute("data-needs-room") && !active);
  }
}

function renderRooms() {
  const list = $("room-list");
  list.replaceChildren(
    ...[...rooms.entries()].map(([name, room]) => {
      const open = el(
        "button",
        { type: "button", className: "room-button", "aria-current": name === active ? "true" : false },
        el("span", { "aria-hidden": "true" }, "#"),
        name,
        room.unread ? el("span", { className: "unread" }, ` ${room.unread}`, el("span", { className: "visually-hidden" }, " unread")) : null,
      );
      open.addEventListener("click", () => show(name));
      const close = el("button", { type: "button", className: "leave", "aria-label": `Leave ${name}`, title: `Leave ${name}` }, "×");
      close.addEventListener("click", () => leave(name));
      return el("li", {}, open, close);
    }),
  );
  if (rooms.size === 0) list.append(el("li", { className: "empty" }, "No rooms yet."));
}

function renderRoom() {
  $("room-title").textContent = active ? `#${active}` : "No room";
  $("no-room").hidden = active !== null;
  $("messages").hidden = active === null;
  renderMessages();
  renderOnline();
  renderTyping();
  updateControls();
}

function renderMessages(emptyText = "No messages yet. Say hello!") {
  const room = rooms.get(active);
  const list = $("messages");
  const messages = room ? [...room.messages.values()].sort((a, b) => a.id - b.id) : [];
  list.replaceChildren(...messages.map((message) => messageItem(message, me)));
  if (room && messages.length === 0) list.append(noteItem(emptyText));
  list.scrollTop = list.scrollHeight;
}

function appendMessage(message) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  list.querySelector(".note:only-child")?.remove();
  list.append(messageItem(message, me));
  if (atBottom || message.author === me) list.scrollTop = list.scrollHeight;
}

function renderOnline() {
  const room = rooms.get(active);
  const online = room?.online ?? [];
  $("room-count").textContent = room ? `${online.length} online` : "";
  $("online-list").replaceChildren(
    ...online.map((name) =>
      el("li", {}, avatar(name), el("span", {}, name, name === me ? el("span", { className: "muted" }, " (you)") : null)),
    ),
  );
}

function renderTyping() {
  const room = rooms.get(active);
  $("typing").textContent = room ? typingText([...room.typing.keys()].sort()) : "";
}

function renderRecipients(usernames) {
  const select = $("private-to");
  const chosen = select.value;
  if (usernames.length === 0) {
    select.replaceChildren(el("option", { value: "" }, "Nobody else is online"));
    return;
  }
  select.replaceChildren(...usernames.map((name) => el("option", { value: name }, name)));
  if (usernames.includes(chosen)) select.value = chosen;
}

let noticeTimer = null;

function notify(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), 5000);
}

function showError(error) {
  $("error").textContent = plainError(error);
  $("error").hidden = false;
}

// Every action first clears what the previous one said.
function clearError() {
  $("error").hidden = true;
  clearModeration();
}

// --- go ---------------------------------------------------------------------------------

$("logout-form").addEventListener("submit", () => {
  redirecting = true;
  clearTokens();
  connection.stop();
});

renderRecipients([]);
renderRooms();
renderRoom();
const tokens = loadTokens();
if (!tokens?.access || String(claims(tokens.access).user_id) !== config.userId) {
  signInAgain(); // no token yet in this browser, or another user's
} else {
  start();
}

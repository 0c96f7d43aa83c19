// Small DOM helpers for the chat page. Text always goes in with textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

export function formatTime(iso) {
  const date = new Date(iso);
  return el("time", { datetime: iso }, date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
}

// A stable colour per name, so people are easy to tell apart.
function hue(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return hash;
}

export function avatar(name) {
  const node = el("span", { className: "avatar", "aria-hidden": "true" }, name.slice(0, 1).toUpperCase());
  node.style.setProperty("--hue", hue(name));
  return node;
}

export function messageItem(message, me) {
  const mine = message.author === me;
  return el(
    "li",
    { className: mine ? "message mine" : "message", dataset: { id: message.id } },
    avatar(message.author),
    el(
      "div",
      { className: "bubble" },
      el("p", { className: "meta" }, el("span", { className: "author" }, message.author), " ", formatTime(message.sent_at)),
      el("p", { className: "text" }, message.text),
    ),
  );
}

// What the hub's error says, without the client's wrapping: a HubError's own message is
// meant for people ("An unexpected error occurred invoking 'X' on the server. HubException: ...").
export function plainError(error) {
  const message = error?.message ?? String(error);
  const hubException = message.match(/HubException: (.+)$/s);
  if (hubException) return hubException[1];
  if (/\bunauthorized\b/.test(message)) return "You are not allowed to do that.";
  return message;
}

export function noteItem(text) {
  return el("li", { className: "note" }, text);
}

export function privateItem(message, me) {
  const outgoing = message.from === me;
  const label = outgoing ? `To ${message.to}` : `From ${message.from}`;
  return el(
    "li",
    { className: outgoing ? "private outgoing" : "private incoming" },
    el("p", { className: "meta" }, el("strong", {}, label), " ", formatTime(message.sent_at)),
    el("p", { className: "text" }, message.text),
  );
}

export function typingText(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

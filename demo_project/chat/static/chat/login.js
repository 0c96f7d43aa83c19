// Sign in twice with one form: get a JWT pair for the hub connection, then let the form
// post to Django's login view for the session the pages use.
import { obtainTokens, SignInRequired } from "./tokens.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const notice = document.getElementById("login-notice");

if (new URLSearchParams(location.search).get("reason") === "expired") {
  notice.textContent = "Your session ended. Please sign in again.";
  notice.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  error.hidden = true;
  try {
    await obtainTokens(form.dataset.tokenUrl, form.elements.username.value, form.elements.password.value);
    form.submit(); // no submit event this time: the browser posts the form
  } catch (failure) {
    error.textContent = failure instanceof SignInRequired ? `${failure.message} Please try again.` : failure.message;
    error.hidden = false;
    button.disabled = false;
    form.elements.password.focus();
  }
});

// The demo's logic, on authd-client in cookie mode (or, with ?mode=token, token mode with
// the session in localStorage). The page is served with the package
// under /authd-client/; authd's address comes from ?authd= (default: the same host on
// port 8080). `window.demo` is what a person clicks, and what the browser test drives.
import { AuthdClient } from "/authd-client/index.js";

const params = new URLSearchParams(location.search);
const authdUrl = params.get("authd") ?? `${location.protocol}//${location.hostname}:8080`;

/** Token mode (`?mode=token`): the session in localStorage, shared by the tabs. */
const localStorageSession = {
  load: () => JSON.parse(localStorage.getItem("authd-session") ?? "null"),
  save: (session) => localStorage.setItem("authd-session", JSON.stringify(session)),
  clear: () => localStorage.removeItem("authd-session"),
};
const auth =
  params.get("mode") === "token"
    ? new AuthdClient({ baseUrl: authdUrl, storage: localStorageSession })
    : new AuthdClient({ baseUrl: authdUrl, mode: "cookie" });
const status = document.getElementById("status");
const show = (text) => {
  status.textContent = text;
};

let ended = 0;
auth.onSessionEnded(() => {
  ended += 1;
  show("Signed out: the session ended.");
});

async function whoAmI() {
  const me = await auth.me();
  show(`Logged in as ${me.username} (${me.email})`);
  return me;
}

const demo = {
  /** Logs in, and says who. */
  async login(email, password) {
    await auth.login(email, password);
    return whoAmI();
  },
  async register(email, username, password) {
    await auth.register({ email, username, password });
    return whoAmI();
  },
  /** After a reload: the cookie (or the stored session) brings the session back. */
  async resume() {
    if (params.get("mode") === "token") await auth.accessToken();
    else await auth.refresh();
    return whoAmI();
  },
  async logout() {
    await auth.logout();
    show("Logged out.");
  },
  /** Calls `me` every `everyMs` for `forMs`; the result lands in `demo.busy`. */
  keepBusy(forMs, everyMs) {
    demo.busy = { calls: 0, failures: [], ended: 0, done: false };
    const endedBefore = ended;
    const until = Date.now() + forMs;
    const tick = async () => {
      try {
        const response = await auth.request("/api/auth/me");
        demo.busy.calls += 1;
        if (response.status !== 200) demo.busy.failures.push(response.status);
      } catch (error) {
        demo.busy.failures.push(error.code ?? String(error));
      }
      demo.busy.ended = ended - endedBefore;
      if (Date.now() < until) setTimeout(tick, everyMs);
      else demo.busy.done = true;
    };
    tick();
  },
  busy: null,
};
window.demo = demo;

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  demo.login(form.get("email"), form.get("password")).catch((e) => show(`Refused: ${e.code}`));
});
document.getElementById("register").addEventListener("click", () => {
  const form = new FormData(document.getElementById("login"));
  const email = form.get("email");
  demo.register(email, email.split("@")[0], form.get("password")).catch((e) => show(`Refused: ${e.code}`));
});
document.getElementById("logout").addEventListener("click", () => demo.logout());

demo.resume().catch(() => show("Not logged in."));

// Cookie mode against a real authd that allows the app's origin: the client never holds
// the refresh token, and refreshes with the cookie alone.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { AuthdClient, MemoryStorage } from "../src/index.js";
import { type Authd, Wire, backends, startAuthd } from "./support/authd.js";

const ORIGIN = "http://127.0.0.1:5173";

for (const backend of backends()) {
  describe(`cookie mode on ${backend}`, () => {
    let authd: Authd;
    before(async () => {
      authd = await startAuthd(backend, { AUTHD_ALLOWED_ORIGINS: ORIGIN });
    });
    after(async () => {
      await authd.stop();
    });

    test("the refresh token lives in the cookie only, and refreshes from it", async () => {
      const wire = new Wire();
      wire.browser = { origin: ORIGIN, cookies: new Map() };
      let t = Date.now();
      const storage = new MemoryStorage();
      const c = new AuthdClient({ baseUrl: authd.base, mode: "cookie", storage, fetch: wire.fetch, now: () => t });
      const tag = `${process.pid}c${Date.now()}`;
      await c.register({ email: `cookie${tag}@example.com`, username: `cookie${tag}`, password: "correct horse battery staple" });

      const cookie = wire.browser.cookies.get("authd_rt") ?? "";
      assert.ok(cookie.startsWith("authd_rt_"), "authd set the cookie");
      const stored = storage.load();
      assert.ok(stored && stored.refreshToken === undefined, "the client holds no refresh token");
      assert.ok(!JSON.stringify(stored).includes(cookie));

      t += 59 * 60_000;
      assert.equal((await c.request("/api/auth/me")).status, 200);
      assert.equal(wire.count("/api/auth/refresh"), 1);
      assert.notEqual(wire.browser.cookies.get("authd_rt"), cookie, "a new cookie");

      await c.logout();
      assert.equal(wire.browser.cookies.has("authd_rt"), false, "logout cleared it");
    });

    test("a page reloaded with only its cookie logs out at authd too", async () => {
      const wire = new Wire();
      wire.browser = { origin: ORIGIN, cookies: new Map() };
      const page = () => new AuthdClient({ baseUrl: authd.base, mode: "cookie", fetch: wire.fetch });
      const tag = `${process.pid}r${Date.now()}`;
      await page().register({ email: `reload${tag}@example.com`, username: `reload${tag}`, password: "correct horse battery staple" });
      const cookie = wire.browser.cookies.get("authd_rt") ?? "";

      await page().logout(); // a new client: nothing stored, as after a reload

      assert.equal(wire.browser.cookies.has("authd_rt"), false);
      wire.browser.cookies.set("authd_rt", cookie);
      const reloaded = page();
      const ended: string[] = [];
      reloaded.onSessionEnded((event) => ended.push(event.code));
      await assert.rejects(reloaded.refresh(), (e: { code?: string }) => e.code === "NO_SESSION");
      assert.deepEqual(ended, [], "a page that was never logged in has no session to end");
    });
  });
}

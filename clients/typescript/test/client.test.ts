// The client against a real authd, on SQLite and on PostgreSQL: each test one behaviour a
// user of the client would notice.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { AuthdClient, AuthdError, type AuthdClientOptions } from "../src/index.js";
import { ADMIN_TOKEN, type Authd, type Backend, Wire, backends, post, startAuthd } from "./support/authd.js";

const PASSWORD = "correct horse battery staple";

/** The client's own clock, moved by hand, and the waits it asked for (taken at once). */
class Clock {
  t = Date.now();
  slept: number[] = [];
  now = () => this.t;
  sleep = async (ms: number) => {
    this.slept.push(ms);
    this.t += ms;
  };
}

let users = 0;
function someone(): { email: string; username: string } {
  users += 1;
  const tag = `${process.pid}x${users}`;
  return { email: `user${tag}@example.com`, username: `user${tag}` };
}

for (const backend of backends()) {
  describe(`on ${backend}`, () => {
    let authd: Authd;
    before(async () => {
      authd = await startAuthd(backend as Backend);
    });
    after(async () => {
      await authd.stop();
    });

    function client(wire: Wire, clock: Clock, options: Partial<AuthdClientOptions> = {}): AuthdClient {
      return new AuthdClient({
        baseUrl: authd.base,
        fetch: wire.fetch,
        now: clock.now,
        sleep: clock.sleep,
        random: () => 0.5,
        ...options,
      });
    }

    async function registered(c: AuthdClient): Promise<{ email: string; username: string }> {
      const who = someone();
      await c.register({ ...who, password: PASSWORD });
      return who;
    }

    test("fifty concurrent calls due a refresh share exactly one", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await registered(c);
      clock.t += 59 * 60_000; // within the last minute of the access token

      const answers = await Promise.all(Array.from({ length: 50 }, () => c.request("/api/auth/me")));

      assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
      assert.equal(wire.count("/api/auth/refresh"), 1);
    });

    test("a token is not refreshed in the first half of its life, nor long before expiry", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await registered(c);
      const first = await c.accessToken();
      clock.t += 30 * 60_000;
      assert.equal(await c.accessToken(), first);
      assert.equal(wire.count("/api/auth/refresh"), 0);
      clock.t += 29 * 60_000 + 1;
      assert.notEqual(await c.accessToken(), first);
      assert.equal(wire.count("/api/auth/refresh"), 1);
    });

    test("a refresh whose response is cut is retried and gets the same successor", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await registered(c);
      let lost: string | undefined;
      wire.intercept = async (path, init, n) => {
        if (path !== "/api/auth/refresh" || n !== 1) return undefined;
        const delivered = await fetch(`${authd.base}${path}`, init);
        lost = ((await delivered.json()) as { refreshToken: string }).refreshToken;
        throw new TypeError("the connection was cut");
      };

      const refreshed = await c.refresh();

      assert.equal(wire.count("/api/auth/refresh"), 2);
      assert.equal(refreshed.refreshToken, lost, "the retry got the successor that was lost");
      assert.equal((await c.request("/api/auth/me")).status, 200);
      await c.refresh(); // no reuse was detected: the chain goes on
    });

    test("a refresh is never retried past authd's grace", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock, { retry: { attempts: 50 } });
      await registered(c);
      wire.intercept = (path) => {
        if (path === "/api/auth/refresh") throw new TypeError("network down");
        return undefined;
      };
      const started = clock.t;
      await assert.rejects(c.refresh(), (e: AuthdError) => e.code === "NETWORK_ERROR");
      assert.ok(clock.t - started < 10_000, `gave up after ${clock.t - started} ms`);
      assert.ok(wire.count("/api/auth/refresh") > 1);
    });

    test("503 with Retry-After is honoured, then the call goes through", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      wire.intercept = (path, _init, n) =>
        path === "/api/auth/register" && n === 1
          ? new Response(JSON.stringify({ error: "busy", code: "SERVICE_UNAVAILABLE" }), {
              status: 503,
              headers: { "retry-after": "2", "content-type": "application/json" },
            })
          : undefined;
      await registered(c);
      assert.deepEqual(clock.slept, [2_000]);
      assert.equal(wire.count("/api/auth/register"), 2);
    });

    test("a route whose RateLimit says its quota is spent is waited out, not hammered", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      const who = await registered(c);
      wire.intercept = async (path, init, n) => {
        if (path !== "/api/auth/login" || n !== 1) return undefined;
        const real = await fetch(`${authd.base}${path}`, init);
        const headers = new Headers(real.headers);
        headers.set("ratelimit", '"login";r=0;t=3');
        return new Response(await real.text(), { status: real.status, headers });
      };
      await c.login(who.email, PASSWORD);
      assert.deepEqual(clock.slept, []);
      await c.login(who.email, PASSWORD);
      assert.deepEqual(clock.slept, [3_000], "the second login waited for the quota");
    });

    test("a 401 from a service refreshes the session and tries once more", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await registered(c);
      wire.intercept = (path, _init, n) =>
        path === "/api/auth/me" && n === 1
          ? new Response(JSON.stringify({ error: "expired", code: "TOKEN_EXPIRED" }), { status: 401 })
          : undefined;
      const me = await c.request("/api/auth/me");
      assert.equal(me.status, 200);
      assert.equal(wire.count("/api/auth/refresh"), 1);
      assert.equal(wire.count("/api/auth/me"), 2);
    });

    test("network errors are retried with jittered, doubling backoff", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      const who = await registered(c);
      wire.intercept = (path, _init, n) => {
        if (path === "/api/auth/login" && n <= 2) throw new TypeError("connection refused");
        return undefined;
      };
      await c.login(who.email, PASSWORD);
      assert.deepEqual(clock.slept, [100, 200], "half of 200 ms, then of 400 ms");
    });

    test("a revoked session is replaced by logging in again with the app's credentials", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const who = someone();
      const c = client(wire, clock, {
        credentials: () => ({ kind: "user", email: who.email, password: PASSWORD }),
      });
      await c.register({ ...who, password: PASSWORD });
      const other = client(new Wire(), new Clock());
      await other.login(who.email, PASSWORD);
      const out = await other.request("/api/auth/sessions", { method: "DELETE" });
      assert.equal(out.status, 200);

      const me = await c.request("/api/auth/me");

      assert.equal(me.status, 200);
      assert.equal(wire.count("/api/auth/login"), 1, "logged in again");
    });

    test("without credentials, a revoked session ends with sessionEnded", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await registered(c);
      const ended: string[] = [];
      c.onSessionEnded((event) => ended.push(event.code));
      const out = await c.request("/api/auth/sessions", { method: "DELETE" });
      assert.equal(out.status, 200);

      await assert.rejects(c.request("/api/auth/me"), (e: AuthdError) => e.code === "INVALID_TOKEN");
      assert.deepEqual(ended, ["INVALID_TOKEN"]);
      assert.equal(await c.loggedIn(), false);
    });

    test("errors carry the contract's code, and logout ends the session at authd", async () => {
      const c = client(new Wire(), new Clock());
      const who = await registered(c);
      await assert.rejects(c.login(who.email, "not the password"), (e: AuthdError) => {
        return e.code === "INVALID_CREDENTIALS" && e.status === 401 && !e.message.includes("not the password");
      });
      const token = await c.accessToken();
      await c.logout();
      const after = await fetch(`${authd.base}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(after.status, 401);
      assert.equal(await c.loggedIn(), false);
    });

    test("a device keeps its stable id across sessions and refreshes on its own route", async () => {
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      const id = `ts-device-${process.pid}-${Date.now()}`;
      const first = await c.authenticateDevice(id, "ANDROID");
      assert.equal(first.newDevice, true);
      const again = await client(new Wire(), new Clock()).authenticateDevice(id, "ANDROID");
      assert.equal(again.newDevice, false);
      assert.equal(again.device.id, first.device.id);
      clock.t += 59 * 60_000;
      assert.equal((await c.request("/api/auth/me")).status, 200);
      assert.equal(wire.count("/api/auth/device/refresh"), 1);
    });

    test("a wallet logs in as user@appId and exchanges its access token", async () => {
      const app = await post(authd.base, "/v2/apps", { name: "Sensors" }, ADMIN_TOKEN);
      const appId = app.body.appId as string;
      const wallet = await post(
        authd.base,
        `/v2/apps/${appId}/wallets`,
        { username: "sensor01", password: "a wallet's own password", metadata: { role: "device" } },
        ADMIN_TOKEN,
      );
      assert.equal(wallet.status, 201);
      const wire = new Wire();
      const clock = new Clock();
      const c = client(wire, clock);
      await c.loginWallet(`sensor01@${appId}`, "a wallet's own password");
      const first = await c.accessToken();
      clock.t += 59 * 60_000;
      const second = await c.accessToken();
      assert.notEqual(second, first);
      assert.equal(wire.count("/v2/auth/wallet/refresh"), 1);
      const me = await c.me();
      assert.equal(me.type, "wallet");
      assert.equal(me.appId, appId);
    });
  });
}

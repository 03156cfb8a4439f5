// The demo page (examples/browser-demo) in headless Chromium, in cookie mode against a real
// authd: what a person does in a browser, and several tabs refreshing at once.

import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, test } from "node:test";

import { type Authd, startAuthd } from "./support/authd.js";
import { servePages } from "./support/pages.js";
import { Browser, chromiumAvailable, freePort } from "./support/webdriver.js";

const PASSWORD = "correct horse battery staple";

describe("the demo page in headless Chromium", { skip: !chromiumAvailable() }, () => {
  let authd: Authd;
  let pages: Server;
  let foreign: Server;
  let browser: Browser;
  let app: string;
  let elsewhere: string;

  before(async () => {
    const [pagePort, foreignPort] = [await freePort(), await freePort()];
    const origin = `http://127.0.0.1:${pagePort}`;
    // Access tokens that expire every 4 s: tabs refresh every 2 s.
    authd = await startAuthd("sqlite", { AUTHD_ALLOWED_ORIGINS: origin, AUTHD_ACCESS_TTL_SECS: "4" });
    pages = await servePages("127.0.0.1", pagePort);
    foreign = await servePages("127.0.0.1", foreignPort);
    app = `${origin}/?authd=${encodeURIComponent(authd.base)}`;
    // Another site: `localhost` is not `127.0.0.1` to a browser.
    elsewhere = `http://localhost:${foreignPort}/foreign.html?authd=${encodeURIComponent(authd.base)}`;
    browser = await Browser.start();
  });

  after(async () => {
    await browser?.stop();
    pages?.close();
    foreign?.close();
    await authd?.stop();
  });

  /** Runs `demo.<call>(...args)` in the current tab; its result, or "error CODE". */
  function demo(call: string, ...args: unknown[]): Promise<any> {
    return browser.runAsync(
      `const done = arguments[arguments.length - 1];
       const args = Array.from(arguments).slice(0, -1);
       const run = () => window.demo ? window.demo[${JSON.stringify(call)}](...args)
         : new Promise((r) => setTimeout(r, 50)).then(run);
       run().then((v) => done(v ?? null), (e) => done("error " + (e.code ?? e)));`,
      ...args,
    );
  }

  /** Refreshes authd answered 200 so far, from its metrics. */
  async function refreshes(): Promise<number> {
    const metrics = await (await fetch(`${authd.base}/metrics`)).text();
    const line = metrics
      .split("\n")
      .find((l) => l.startsWith('authd_http_requests_total{route="/api/auth/refresh",method="POST",status="200"}'));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  /** Has every tab of `handles` call `me` every 250 ms for `forMs`, then checks that none
   * failed or was signed out; returns how many refreshes authd answered meanwhile. */
  async function keepTabsBusy(handles: string[], forMs: number): Promise<number> {
    const refreshedBefore = await refreshes();
    for (const handle of handles) {
      await browser.switchTo(handle);
      await browser.run(`window.demo.keepBusy(${forMs}, 250)`);
    }
    await new Promise((done) => setTimeout(done, forMs + 1_000));
    for (const handle of handles) {
      await browser.switchTo(handle);
      let busy: { calls: number; failures: unknown[]; ended: number; done: boolean };
      do {
        busy = await browser.run("return window.demo.busy");
        if (!busy.done) await new Promise((done) => setTimeout(done, 500));
      } while (!busy.done);
      assert.deepEqual(busy.failures, [], `tab ${handle}`);
      assert.equal(busy.ended, 0, `tab ${handle} was signed out`);
      assert.ok(busy.calls >= forMs / 2_000, `tab ${handle} made ${busy.calls} calls`);
    }
    return (await refreshes()) - refreshedBefore;
  }

  /** Opens `count` tabs of `page` after the current one, each finding the session. */
  async function tabsOf(page: string, count: number): Promise<string[]> {
    const handles = [await browser.currentTab()];
    for (let i = 1; i < count; i++) {
      handles.push(await browser.newTab());
      await browser.open(page);
      assert.ok((await demo("resume")).username, "a new tab finds the session");
    }
    return handles;
  }

  /** Closes every tab of `handles` but the first. */
  async function closeTabs(handles: string[]): Promise<void> {
    for (const handle of handles.slice(1)) {
      await browser.switchTo(handle);
      await browser.command("DELETE", "/window");
    }
    await browser.switchTo(handles[0]!);
  }

  let people = 0;
  async function registerSomeone(): Promise<string> {
    people += 1;
    const name = `browser${process.pid}x${people}`;
    const me = await demo("register", `${name}@example.com`, name, PASSWORD);
    assert.equal(me.username, name, JSON.stringify(me));
    return name;
  }

  test("a person logs in, reloads, stays logged in, and logs out; scripts never see the refresh token", async () => {
    await browser.open(app);
    const name = await registerSomeone();

    await browser.open(app);
    const resumed = await demo("resume");
    assert.equal(resumed.username, name, "the cookie brought the session back after a reload");
    const cookies = (await browser.run("return document.cookie")) as string;
    assert.ok(!cookies.includes("authd_rt"), `page scripts read: ${cookies}`);

    await browser.open(elsewhere);
    const attempt = await browser.runAsync("window.attempt.then(arguments[0])");
    assert.match(attempt, /^blocked/, "a page of another site cannot refresh");

    await browser.open(app);
    assert.equal((await demo("resume")).username, name, "and it spent nothing");
    assert.equal(await demo("logout"), null);
    await browser.open(app);
    assert.match(await demo("resume"), /^error /, "logged out, also after a reload");
  });

  test("3 tabs sharing a token-mode session in localStorage refresh it once per expiry, together", { timeout: 120_000 }, async () => {
    const tokenApp = `${app}&mode=token`;
    await browser.open(tokenApp);
    await registerSomeone();
    const handles = await tabsOf(tokenApp, 3);
    const refreshed = await keepTabsBusy(handles, 30_000);
    // One refresh per 2 s for all three (about 15), where each tab on its own makes 45.
    assert.ok(refreshed >= 10 && refreshed <= 25, `${refreshed} refreshes by 3 tabs in 30 s`);
    await closeTabs(handles);
    await browser.run("localStorage.clear()");
  });

  for (const tabs of [2, 5]) {
    test(`${tabs} tabs refreshing every 2 s for a minute are never signed out`, { timeout: 180_000 }, async () => {
      await browser.open(app);
      await registerSomeone();
      const handles = await tabsOf(app, tabs);
      // Each tab's access token expires every 4 s: each refreshes about every 2 s.
      const refreshed = await keepTabsBusy(handles, 60_000);
      assert.ok(refreshed >= tabs * 20, `${refreshed} refreshes by ${tabs} tabs in a minute`);
      await closeTabs(handles);
    });
  }
});

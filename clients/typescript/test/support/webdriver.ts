// Headless Chromium driven over WebDriver (chromedriver), with nothing but fetch.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";

/** Where Debian puts them (packages chromium and chromium-driver). */
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const CHROMEDRIVER = process.env.CHROMEDRIVER_BIN ?? "/usr/bin/chromedriver";

/** Whether Chromium and its driver are here; under CI their absence fails the run. */
export function chromiumAvailable(): boolean {
  try {
    execFileSync(CHROMEDRIVER, ["--version"], { stdio: "ignore" });
    execFileSync(CHROMIUM, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI) throw new Error(`CI needs ${CHROMIUM} and ${CHROMEDRIVER} (scripts/test.sh installs them)`);
    console.error("Chromium or chromedriver not found: the browser tests are skipped (scripts/test.sh installs them)");
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((found) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => found(port));
    });
  });
}

/** One browser session: its windows (tabs), pages and scripts. */
export class Browser {
  private constructor(
    private readonly driver: ChildProcess,
    private readonly base: string,
  ) {}

  static async start(): Promise<Browser> {
    const port = await freePort();
    const driver = spawn(CHROMEDRIVER, [`--port=${port}`], { stdio: "ignore" });
    const root = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${root}/status`)).ok) break;
      } catch {
        if (i > 100) throw new Error("chromedriver did not start");
        await new Promise((done) => setTimeout(done, 50));
      }
    }
    const session = await call(root, "POST", "/session", {
      capabilities: {
        alwaysMatch: {
          browserName: "chrome",
          "goog:chromeOptions": {
            binary: CHROMIUM,
            args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
          },
        },
      },
    });
    const browser = new Browser(driver, `${root}/session/${session.sessionId}`);
    await browser.command("POST", "/timeouts", { script: 120_000, pageLoad: 30_000 });
    return browser;
  }

  async command(method: string, path: string, body?: unknown): Promise<any> {
    return call(this.base, method, path, body);
  }

  async open(url: string): Promise<void> {
    await this.command("POST", "/url", { url });
  }

  /** Runs `script` (a function body; `arguments` as given) in the current tab. */
  async run(script: string, ...args: unknown[]): Promise<any> {
    return this.command("POST", "/execute/sync", { script, args });
  }

  /** Runs `script` until it calls its last argument with the result. */
  async runAsync(script: string, ...args: unknown[]): Promise<any> {
    return this.command("POST", "/execute/async", { script, args });
  }

  /** Opens a new tab and switches to it; returns its handle. */
  async newTab(): Promise<string> {
    const { handle } = await this.command("POST", "/window/new", { type: "tab" });
    await this.switchTo(handle);
    return handle;
  }

  async switchTo(handle: string): Promise<void> {
    await this.command("POST", "/window", { handle });
  }

  async currentTab(): Promise<string> {
    return this.command("GET", "/window");
  }

  async stop(): Promise<void> {
    try {
      await this.command("DELETE", "");
    } finally {
      this.driver.kill();
    }
  }
}

async function call(root: string, method: string, path: string, body?: unknown): Promise<any> {
  const init: RequestInit = { method, headers: { "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(root + path, init);
  const answer = (await response.json()) as { value: any };
  if (!response.ok) throw new Error(`webdriver ${method} ${path}: ${JSON.stringify(answer.value)}`);
  return answer.value;
}

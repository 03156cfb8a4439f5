// A real authd for the tests: the binary cargo built, on a throwaway SQLite or PostgreSQL
// database, on a free port.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export type Backend = "sqlite" | "postgres";

export const ADMIN_TOKEN = "typescript-client-tests-admin-token-0123456789";

const here = dirname(fileURLToPath(import.meta.url));
// dist-test/test/support → the repository's root.
const root = resolve(here, "../../../../..");

/** The backends to run on: SQLite always, PostgreSQL when `AUTHD_TEST_POSTGRES_URL`
 * names a server (required under CI, as for the Rust tests). */
export function backends(): Backend[] {
  const server = process.env.AUTHD_TEST_POSTGRES_URL;
  let reachable = false;
  if (server) {
    try {
      execFileSync("psql", [server, "-qtAc", "SELECT 1"], { stdio: "ignore" });
      reachable = true;
    } catch {
      reachable = false;
    }
  }
  if (reachable) return ["sqlite", "postgres"];
  if (process.env.CI) throw new Error(`CI needs PostgreSQL at AUTHD_TEST_POSTGRES_URL (${server ?? "unset"})`);
  console.error("PostgreSQL not reachable (AUTHD_TEST_POSTGRES_URL): the client's PostgreSQL runs are skipped");
  return ["sqlite"];
}

export interface Authd {
  base: string;
  stop(): Promise<void>;
}

/** Starts authd on `backend` with `env` added to its settings. */
export async function startAuthd(backend: Backend, env: Record<string, string> = {}): Promise<Authd> {
  const bin = process.env.AUTHD_BIN ?? join(root, "target/debug/authd");
  const scratch = mkdtempSync(join(tmpdir(), "authd-ts-"));
  let databaseUrl = `sqlite://${scratch}/authd.db`;
  let dropDatabase = () => {};
  if (backend === "postgres") {
    const server = process.env.AUTHD_TEST_POSTGRES_URL as string;
    const name = `authd_ts_${Date.now()}_${Math.floor(Math.random() * 1e9)}`;
    execFileSync("psql", [server, "-qc", `CREATE DATABASE ${name}`]);
    const url = new URL(server);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = () => execFileSync("psql", [server, "-qc", `DROP DATABASE ${name} WITH (FORCE)`]);
  }
  const child = spawn(bin, ["serve", "--bind", "127.0.0.1:0"], {
    env: {
      ...process.env,
      AUTHD_DATABASE_URL: databaseUrl,
      AUTHD_ADMIN_TOKEN: ADMIN_TOKEN,
      AUTHD_IP_RATE_PER_MIN: "0",
      AUTHD_MAIL_DIR: join(scratch, "mail"),
      RUST_LOG: "info",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const base = await listeningOn(child);
  return {
    base,
    async stop() {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
      dropDatabase();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** The address authd says it listens on. */
function listeningOn(child: ChildProcess): Promise<string> {
  return new Promise((found, failed) => {
    const log: string[] = [];
    const lines = createInterface({ input: child.stderr! });
    lines.on("line", (line) => {
      log.push(line);
      const at = line.indexOf("authd listening on ");
      if (at >= 0) found(line.slice(at + "authd listening on ".length).trim());
    });
    child.once("exit", (code) => failed(new Error(`authd exited (${code}):\n${log.join("\n")}`)));
  });
}

/** A `fetch` that counts the calls to each path and lets a test step in. */
export class Wire {
  readonly calls: string[] = [];
  /** Answers instead of authd (or throws) for a call, when it returns something. */
  intercept: ((url: string, init: RequestInit | undefined, n: number) => Promise<Response | undefined> | Response | undefined) | null = null;

  /** Cookies kept as a browser of page `origin` keeps them, when set (cookie mode). */
  browser: { origin: string; cookies: Map<string, string> } | null = null;

  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const path = new URL(url).pathname;
    this.calls.push(path);
    const n = this.calls.filter((p) => p === path).length;
    const stepped = this.intercept ? await this.intercept(path, init, n) : undefined;
    if (stepped) return stepped;
    if (!this.browser) return fetch(input, init);
    const headers = new Headers(init?.headers);
    headers.set("origin", this.browser.origin);
    const cookies = [...this.browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (cookies && init?.credentials === "include") headers.set("cookie", cookies);
    const response = await fetch(input, { ...init, headers });
    for (const set of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = set.split(";").map((part) => part.trim());
      const [name = "", value = ""] = pair.split("=");
      if (attributes.includes("Max-Age=0") || value === "") this.browser.cookies.delete(name);
      else this.browser.cookies.set(name, value);
    }
    return response;
  };

  count(path: string): number {
    return this.calls.filter((p) => p === path).length;
  }
}

/** A JSON POST to authd, outside any client. */
export async function post(
  base: string,
  path: string,
  body: unknown,
  bearer?: string,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// Serves the demo page (examples/browser-demo) and the built package under /authd-client/,
// as a web app's own server would.

import { readFile } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../../..");
const demo = join(root, "examples/browser-demo");
const pkg = join(root, "clients/typescript/dist");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

/** Serves the pages on `host`:`port` until closed. */
export async function servePages(host: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname);
    const file = path.startsWith("/authd-client/")
      ? join(pkg, path.slice("/authd-client/".length))
      : join(demo, path === "/" ? "index.html" : path);
    if (!file.startsWith(demo) && !file.startsWith(pkg)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((listening) => server.listen(port, host, listening));
  return server;
}

// `npm run demo`: the demo page for a person, at http://127.0.0.1:5173, for an authd
// started with AUTHD_ALLOWED_ORIGINS=http://127.0.0.1:5173 on 127.0.0.1:8080.
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const port = Number(process.env.PORT ?? 5173);
  await servePages("127.0.0.1", port);
  console.log(`the demo: http://127.0.0.1:${port}/?authd=http://127.0.0.1:8080`);
}

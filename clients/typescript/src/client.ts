import { AuthdError, errorOf, retryAfter } from "./errors.js";
import { MemoryStorage, type PrincipalKind, type StoredSession, type TokenStorage } from "./storage.js";

/** The platforms authd knows devices by. */
export type Platform = "IOS" | "ANDROID" | "WEB";

/** What the client logs in again with when a session has ended, if the app keeps it. */
export type Credentials =
  | { kind: "user"; email: string; password: string }
  | { kind: "device"; deviceId: string; platform: Platform }
  | { kind: "wallet"; username: string; password: string };

/** A person, as authd describes them. */
export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  username: string;
  roles: string[];
}

/** A device, as authd describes it. */
export interface Device {
  id: string;
  deviceId: string;
  platform: Platform;
  createdAt: string;
  /** The person the device is linked to, when it is. */
  userId?: string;
}

/** Retries of authd's own calls: jittered exponential backoff. */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** The first backoff's ceiling, doubled at each try. */
  baseDelayMs: number;
  /** The largest backoff. */
  maxDelayMs: number;
}

/** How an {@link AuthdClient} talks to authd. */
export interface AuthdClientOptions {
  /** authd's address, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `token` (default): the client keeps the refresh token in its storage. `cookie`: a
   * browser app whose origin authd allows (`AUTHD_ALLOWED_ORIGINS`); the refresh token
   * stays in an `HttpOnly` cookie the client never sees.
   */
  mode?: "token" | "cookie";
  /** Where the session is kept: memory unless given. */
  storage?: TokenStorage;
  /**
   * In cookie mode, whose session the cookie holds when nothing is stored (after a
   * reload): `user` (default) or `device`, which refresh on different routes.
   */
  cookieKind?: "user" | "device";
  /** Refresh this long before the access token expires (never in its first half). */
  refreshBeforeExpiryMs?: number;
  /**
   * authd's retry grace for a rotated refresh token (`AUTHD_REFRESH_REUSE_GRACE_SECS`):
   * a refresh is never retried later than this after its first try, since authd would
   * take the retry for a stolen token and end the session.
   */
  refreshGraceMs?: number;
  /** Backoff of retried calls. */
  retry?: Partial<RetryPolicy>;
  /** How long one call may take before it counts as a network error. */
  timeoutMs?: number;
  /** Credentials to log in again with when the session ends (else `sessionEnded`). */
  credentials?: () => Credentials | null | Promise<Credentials | null>;
  /** The `fetch` to use (tests, custom agents); the global one by default. */
  fetch?: typeof fetch;
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
  /** How the client waits between tries. */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1), for the backoff's jitter. */
  random?: () => number;
}

/** Why a session ended, as `sessionEnded` listeners hear it. */
export interface SessionEnded {
  /** The contract's code that ended it (`INVALID_TOKEN`, `REFRESH_TOKEN_REUSED`, …). */
  code: string;
}

/** Which answers a call may be retried after. */
type Retries = "none" | "unprocessed" | "all";

interface SessionBody {
  accessToken: string;
  refreshToken?: string;
  expiresIn: number;
  user?: User;
  device?: Device;
  newDevice?: boolean;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };
/** Statuses of answers to a request that was not carried out, worth trying again. */
const NOT_PROCESSED = new Set([429, 503]);
/** Statuses worth trying again for calls that are safe to repeat. */
const TRANSIENT = new Set([429, 502, 503, 504]);

/**
 * authd's client: logs in people, devices and wallets, keeps their session fresh with
 * one refresh in flight however many calls wait for it, retries what is safe to retry,
 * and logs in again (or says `sessionEnded`) when the session is over. It never logs a
 * token.
 */
export class AuthdClient {
  readonly #base: string;
  readonly #cookie: boolean;
  readonly #cookieKind: "user" | "device";
  readonly #storage: TokenStorage;
  readonly #fetch: typeof fetch;
  readonly #beforeExpiry: number;
  readonly #grace: number;
  readonly #retry: RetryPolicy;
  readonly #timeout: number;
  readonly #credentials: AuthdClientOptions["credentials"];
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #listeners = new Set<(event: SessionEnded) => void>();
  #refreshing: Promise<StoredSession> | null = null;
  /** Per route, until when authd's `RateLimit` header said its quota is spent. */
  readonly #spentUntil = new Map<string, number>();

  constructor(options: AuthdClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#cookie = options.mode === "cookie";
    this.#cookieKind = options.cookieKind ?? "user";
    this.#storage = options.storage ?? new MemoryStorage();
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#beforeExpiry = options.refreshBeforeExpiryMs ?? 60_000;
    this.#grace = options.refreshGraceMs ?? 10_000;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeout = options.timeoutMs ?? 10_000;
    this.#credentials = options.credentials;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms)));
    this.#random = options.random ?? Math.random;
  }

  /** Calls `listener` when a session ends and no credentials could log in again. */
  onSessionEnded(listener: (event: SessionEnded) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Registers a person and starts their session. */
  async register(body: { email: string; password: string; username: string }): Promise<User> {
    const session = await this.#start("user", "/api/auth/register", body, "unprocessed");
    return session.user as User;
  }

  /** Logs a person in. */
  async login(email: string, password: string): Promise<User> {
    const session = await this.#start("user", "/api/auth/login", { email, password }, "all");
    return session.user as User;
  }

  /** Authenticates a device by its stable id (registered on first use). */
  async authenticateDevice(
    deviceId: string,
    platform: Platform,
  ): Promise<{ device: Device; newDevice: boolean }> {
    const body = await this.#start("device", "/api/auth/device", { deviceId, platform }, "all");
    return { device: body.device as Device, newDevice: body.newDevice === true };
  }

  /** Logs a wallet in as `walletUsername@appId`. */
  async loginWallet(username: string, password: string): Promise<void> {
    await this.#start("wallet", "/v2/auth/wallet/login", { username, password }, "all");
  }

  /** Ends the session at authd and forgets it here, whatever authd answered. */
  async logout(): Promise<void> {
    let session = await this.#storage.load();
    if (!session && this.#cookie) {
      // A reloaded page holds nothing but the cookie: an access token first, to end it.
      session = await this.refresh().catch(() => null);
    }
    await this.#storage.clear();
    if (!session) return;
    const body = session.refreshToken ? { refreshToken: session.refreshToken } : {};
    try {
      await this.#call("/api/auth/logout", {
        method: "POST",
        body,
        bearer: session.accessToken,
        retries: "all",
      });
    } catch {
      // Forgotten here; the session ends at authd at the latest with its lifetime.
    }
  }

  /** Whether the client holds a session (it may still turn out to have ended). */
  async loggedIn(): Promise<boolean> {
    return (await this.#storage.load()) !== null;
  }

  /**
   * An access token to send as `Authorization: Bearer`, refreshed first when it is
   * within `refreshBeforeExpiryMs` of expiring (and past half its life).
   */
  async accessToken(): Promise<string> {
    const stored = await this.#storage.load();
    if (!stored && this.#cookie) return (await this.refresh()).accessToken;
    const session = stored ?? (await this.#session());
    if (this.#now() < this.#refreshAt(session)) return session.accessToken;
    try {
      return (await this.refresh(session.accessToken)).accessToken;
    } catch (error) {
      // authd unreachable for now, but the token still works: use it.
      if (error instanceof AuthdError && !error.sessionEnded && this.#now() < session.expiresAt) {
        return session.accessToken;
      }
      throw error;
    }
  }

  /**
   * Refreshes the session: one refresh at a time, every caller meanwhile waits for it
   * and gets its result. With `stale`, the access token the caller found wanting, a
   * session refreshed since (by another tab sharing the storage) is taken as it is.
   */
  refresh(stale?: string): Promise<StoredSession> {
    if (!this.#refreshing) {
      this.#refreshing = this.#refreshOnce(stale).finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  /**
   * Calls `path` (on authd, or a full URL of a service that trusts authd's tokens) with
   * the access token; a 401 refreshes the session and tries once more.
   */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const url = path.startsWith("/") ? this.#base + path : path;
    const token = await this.accessToken();
    const first = await this.#authorized(url, init, token);
    if (first.status !== 401) return first;
    const refreshed = await this.refresh(token);
    return this.#authorized(url, init, refreshed.accessToken);
  }

  /** The principal of the session, as `GET /api/auth/me` describes it. */
  async me(): Promise<Record<string, unknown>> {
    const response = await this.request("/api/auth/me");
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as Record<string, unknown>;
  }

  async #authorized(url: string, init: RequestInit, token: string): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    const method = (init.method ?? "GET").toUpperCase();
    const retries: Retries = method === "GET" || method === "HEAD" ? "all" : "unprocessed";
    return this.#send(url, { ...init, headers }, retries, Infinity);
  }

  async #session(): Promise<StoredSession> {
    const session = await this.#storage.load();
    if (!session) throw new AuthdError("NO_SESSION", 0, "Not logged in");
    return session;
  }

  #refreshAt(session: StoredSession): number {
    const halfLife = session.issuedAt + (session.expiresAt - session.issuedAt) / 2;
    return Math.max(session.expiresAt - this.#beforeExpiry, halfLife);
  }

  async #refreshOnce(stale: string | undefined): Promise<StoredSession> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (locks) {
      // Tabs of one origin take turns. In token mode a later one finds the session the
      // first stored; in cookie mode each sends the cookie as the last answer left it,
      // never one that an answer delayed behind another's would put back.
      return locks.request("authd-refresh", () => this.#refreshLocked(stale));
    }
    return this.#refreshLocked(stale);
  }

  async #refreshLocked(stale: string | undefined): Promise<StoredSession> {
    // In cookie mode nothing need be stored (a reloaded page): the cookie is the session.
    const stored = await this.#storage.load();
    const session =
      stored ??
      (this.#cookie ? { kind: this.#cookieKind, accessToken: "", issuedAt: 0, expiresAt: 0 } : await this.#session());
    if (stale !== undefined && session.accessToken !== stale && this.#now() < this.#refreshAt(session)) {
      return session;
    }
    const deadline = this.#now() + this.#grace - 1_000;
    try {
      const fresh = await this.#rotate(session, deadline);
      await this.#storage.save(fresh);
      return fresh;
    } catch (error) {
      if (error instanceof AuthdError && (error.sessionEnded || error.code === "ACCOUNT_INACTIVE")) {
        // A page that was never logged in has no session to end: it is not logged in.
        if (!stored && !this.#credentials) throw new AuthdError("NO_SESSION", error.status, "Not logged in");
        return this.#ended(error);
      }
      throw error;
    }
  }

  async #rotate(session: StoredSession, deadline: number): Promise<StoredSession> {
    if (session.kind === "wallet") {
      const body = await this.#call("/v2/auth/wallet/refresh", {
        method: "POST",
        bearer: session.accessToken,
        retries: "all",
        deadline,
      });
      return this.#stored("wallet", body);
    }
    const path = session.kind === "user" ? "/api/auth/refresh" : "/api/auth/device/refresh";
    const body = session.refreshToken ? { refreshToken: session.refreshToken } : {};
    const fresh = await this.#call(path, { method: "POST", body, retries: "all", deadline });
    return this.#stored(session.kind, fresh);
  }

  /** The session is over: log in again with the app's credentials, or say so. */
  async #ended(error: AuthdError): Promise<StoredSession> {
    await this.#storage.clear();
    const credentials = this.#credentials ? await this.#credentials() : null;
    if (credentials) {
      try {
        switch (credentials.kind) {
          case "user":
            await this.login(credentials.email, credentials.password);
            break;
          case "device":
            await this.authenticateDevice(credentials.deviceId, credentials.platform);
            break;
          case "wallet":
            await this.loginWallet(credentials.username, credentials.password);
            break;
        }
        return await this.#session();
      } catch (relogin) {
        if (!(relogin instanceof AuthdError) || relogin.status !== 401) throw relogin;
      }
    }
    for (const listener of this.#listeners) listener({ code: error.code });
    throw error;
  }

  async #start(
    kind: PrincipalKind,
    path: string,
    body: unknown,
    retries: Retries,
  ): Promise<SessionBody> {
    const answer = await this.#call(path, { method: "POST", body, retries });
    await this.#storage.save(this.#stored(kind, answer));
    return answer;
  }

  #stored(kind: PrincipalKind, body: SessionBody): StoredSession {
    const now = this.#now();
    // Lifetimes are milliseconds under /api/auth, seconds for wallets.
    const lifeMs = kind === "wallet" ? body.expiresIn * 1_000 : body.expiresIn;
    const session: StoredSession = {
      kind,
      accessToken: body.accessToken,
      issuedAt: now,
      expiresAt: now + lifeMs,
    };
    if (body.refreshToken !== undefined && !this.#cookie) session.refreshToken = body.refreshToken;
    return session;
  }

  /** Calls authd and reads its JSON answer; a non-2xx answer is thrown as an error. */
  async #call(
    path: string,
    call: { method: string; body?: unknown; bearer?: string; retries: Retries; deadline?: number },
  ): Promise<SessionBody> {
    const headers = new Headers({ accept: "application/json" });
    if (call.body !== undefined) headers.set("content-type", "application/json");
    if (call.bearer) headers.set("authorization", `Bearer ${call.bearer}`);
    if (this.#cookie) headers.set("x-authd-session", "cookie");
    const init: RequestInit = { method: call.method, headers };
    if (call.body !== undefined) init.body = JSON.stringify(call.body);
    if (this.#cookie) init.credentials = "include";
    const deadline = call.deadline ?? Infinity;
    // A spent quota is waited out rather than refused (as long as the deadline allows).
    const spent = (this.#spentUntil.get(path) ?? 0) - this.#now();
    if (spent > 0) await this.#wait(spent, deadline);
    const response = await this.#send(this.#base + path, init, call.retries, deadline);
    const spentFor = spentSecs(response.headers.get("ratelimit"));
    if (spentFor === undefined) this.#spentUntil.delete(path);
    else this.#spentUntil.set(path, this.#now() + spentFor * 1_000);
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return {} as SessionBody;
    return (await response.json()) as SessionBody;
  }

  /**
   * Sends a request, trying again after network errors and 429/502/503/504 as `retries`
   * allows, with jittered exponential backoff or the server's `Retry-After`, and never
   * past `deadline`.
   */
  async #send(url: string, init: RequestInit, retries: Retries, deadline: number): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const last = retries === "none" || attempt >= this.#retry.attempts;
      let response: Response;
      try {
        response = await this.#fetchOnce(url, init);
      } catch (error) {
        const failure = new AuthdError("NETWORK_ERROR", 0, `authd could not be reached: ${describe(error)}`);
        if (last || retries !== "all") throw failure;
        if (!(await this.#wait(this.#backoff(attempt), deadline))) throw failure;
        continue;
      }
      const again = retries === "all" ? TRANSIENT : retries === "unprocessed" ? NOT_PROCESSED : new Set<number>();
      if (last || !again.has(response.status)) return response;
      const told = retryAfter(response);
      const delay = told !== undefined ? told * 1_000 : this.#backoff(attempt);
      if (!(await this.#wait(delay, deadline))) return response;
    }
  }

  async #fetchOnce(url: string, init: RequestInit): Promise<Response> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#timeout);
    try {
      return await this.#fetch(url, { ...init, signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Full jitter: a random wait up to the doubled ceiling. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * ceiling);
  }

  /** Waits `ms` unless that would pass `deadline`; whether it waited. */
  async #wait(ms: number, deadline: number): Promise<boolean> {
    if (this.#now() + ms > deadline) return false;
    await this.#sleep(ms);
    return true;
  }
}

/**
 * How long a `RateLimit` header (draft-ietf-httpapi-ratelimit-headers:
 * `"name";r=REMAINING;t=SECONDS`) says the quota is spent: `t` (at most a minute) when
 * `r` is 0.
 */
function spentSecs(header: string | null): number | undefined {
  if (header === null) return undefined;
  let remaining: number | undefined;
  let reset = 1;
  for (const param of header.split(";").slice(1)) {
    const [name, value] = param.trim().split("=");
    if (name === "r") remaining = Number(value);
    if (name === "t" && Number.isFinite(Number(value))) reset = Number(value);
  }
  return remaining === 0 ? Math.min(reset, 60) : undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.name === "AbortError" ? "timed out" : error.message;
  return String(error);
}

/** The kinds of principal authd serves. */
export type PrincipalKind = "user" | "device" | "wallet";

/**
 * What the client keeps between calls. In cookie mode `refreshToken` is absent: the
 * browser keeps it in an `HttpOnly` cookie that no script, this client's included, reads.
 */
export interface StoredSession {
  kind: PrincipalKind;
  accessToken: string;
  /** When the access token was issued, in milliseconds since the epoch (client clock). */
  issuedAt: number;
  /** When it expires, in milliseconds since the epoch (client clock). */
  expiresAt: number;
  /** The opaque refresh token (users and devices, token mode). */
  refreshToken?: string;
}

/**
 * Where the client keeps its session: memory by default; implement this over
 * `localStorage`, the iOS Keychain or the Android Keystore (for example with
 * `react-native-keychain`) to keep a session across restarts. Methods may be async.
 */
export interface TokenStorage {
  load(): StoredSession | null | Promise<StoredSession | null>;
  save(session: StoredSession): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** Keeps the session in this object only: gone with the page or the process. */
export class MemoryStorage implements TokenStorage {
  #session: StoredSession | null = null;

  load(): StoredSession | null {
    return this.#session;
  }

  save(session: StoredSession): void {
    this.#session = { ...session };
  }

  clear(): void {
    this.#session = null;
  }
}

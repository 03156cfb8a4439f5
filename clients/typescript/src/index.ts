/**
 * authd-client: authd's client for browsers, React Native and Node ≥ 18. No runtime
 * dependencies: `fetch`, `AbortController` and timers.
 */
export {
  AuthdClient,
  type AuthdClientOptions,
  type Credentials,
  type Device,
  type Platform,
  type RetryPolicy,
  type SessionEnded,
  type User,
} from "./client.js";
export { AuthdError } from "./errors.js";
export { MemoryStorage, type PrincipalKind, type StoredSession, type TokenStorage } from "./storage.js";

/**
 * An answer of authd that is not a success, with the contract's `code`
 * (`INVALID_CREDENTIALS`, `RATE_LIMITED`, …), or a failure to reach it (`NETWORK_ERROR`).
 * The message never contains a token or a password.
 */
export class AuthdError extends Error {
  /** The contract's error code, or `NETWORK_ERROR` when authd could not be reached. */
  readonly code: string;
  /** The HTTP status, 0 for a network error. */
  readonly status: number;
  /** Seconds to wait before trying again, from `Retry-After`, when authd said. */
  readonly retryAfterSecs: number | undefined;

  constructor(code: string, status: number, message: string, retryAfterSecs?: number) {
    super(message);
    this.name = "AuthdError";
    this.code = code;
    this.status = status;
    this.retryAfterSecs = retryAfterSecs;
  }

  /** Whether the session is over and only a new login helps. */
  get sessionEnded(): boolean {
    return (
      this.status === 401 &&
      ["INVALID_TOKEN", "TOKEN_EXPIRED", "REFRESH_TOKEN_REUSED"].includes(this.code)
    );
  }
}

/** The error of a non-2xx response, read from the contract's JSON error body. */
export async function errorOf(response: Response): Promise<AuthdError> {
  let code = "HTTP_" + response.status;
  let message = response.statusText || code;
  try {
    const body = (await response.json()) as { code?: unknown; error?: unknown };
    if (typeof body.code === "string") code = body.code;
    if (typeof body.error === "string") message = body.error;
  } catch {
    // Not the contract's body (a proxy's page): the status says enough.
  }
  return new AuthdError(code, response.status, message, retryAfter(response));
}

/** `Retry-After` in seconds, when the response has one in seconds. */
export function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("retry-after");
  if (value === null) return undefined;
  const secs = Number(value.trim());
  return Number.isFinite(secs) && secs >= 0 ? secs : undefined;
}

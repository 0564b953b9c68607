/**
 * A typed client for the service: fetch only, no dependencies, so it runs in
 * browsers, Workers (pass a service binding's fetch) and Node 18+.
 *
 * Built for a TLS handshake path: every call has a deadline (default 100 ms)
 * covering retries and the body, after which it resolves as a miss
 * ({ok: false, error.code "timeout"}): a slow service costs a full handshake,
 * never a hung connection. Calls never reject; a failure is a result whose
 * error carries the service's stable code (or the client's own, errors.ts).
 * Only idempotent calls are retried (GET, HEAD, PUT, DELETE), on a network
 * error or a 502/503/504, and only within the deadline.
 */
import { decodeBase64url, encodeBase64url, encodeHex, type Bytes } from "../core/encoding.js";
import type { ErrorCode } from "../errors.js";
import { ClientError, type ResultErrorCode } from "./errors.js";
import type {
  ClientSession,
  ClientSessionInfo,
  FlushResult,
  Health,
  KeyRingState,
  OpenedTicket,
  OpenTicketOptions,
  RotateResult,
  SealedTicket,
  SealTicketRequest,
  SessionId,
  SessionJson,
  SessionStats,
  JwkExport,
  StekExport,
  StekFormat,
  StoredSession,
  StoredSessionInfo,
  StoreSessionOptions,
} from "./types.js";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The service's origin, e.g. "https://resumption.example.com" or "http://127.0.0.1:8787". */
  baseUrl: string | URL;
  /** A bearer token (its context and scopes decide what the calls may do); "" sends none (enough for health()). */
  token: string;
  /** Milliseconds a call may take in all, retries and body included (default 100). */
  timeout?: number;
  /** Extra attempts for idempotent calls, within the deadline (default 1). */
  retries?: number;
  /** The fetch to use: a Worker's service binding (env.RESUMPTION.fetch), a test double… (default: the global fetch). */
  fetch?: FetchLike;
  /** Extra headers on every request (e.g. a user agent naming the terminator). */
  headers?: Record<string, string>;
}

export interface CallOptions {
  /** This call's deadline in milliseconds, overriding the client's. */
  timeout?: number;
  /** This call's extra attempts (idempotent calls only). */
  retries?: number;
  /** Gives up early (the result's code is "aborted"). */
  signal?: AbortSignal;
}

export type Result<T> = { ok: true; value: T; status: number } | { ok: false; error: ClientError };

export const DEFAULT_TIMEOUT_MS = 100;
export const DEFAULT_RETRIES = 1;

const SESSION_ID = /^(?:[0-9a-f]{2}){1,32}$/;
const RETRY_STATUSES = new Set([502, 503, 504]);
const TIMED_OUT = Symbol("timed out");

interface Spec<T> {
  method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  idempotent: boolean;
  /** Reads a 2xx answer. */
  read: (res: Response) => Promise<T>;
  /** Statuses that are an answer rather than an error (HEAD's 404: "no such session"). */
  answers?: Partial<Record<number, T>>;
}

const json = <T>(res: Response): Promise<T> =>
  res.text().then((text) => {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null) throw new Error("not a JSON object");
    return value as T;
  });
const none = async (res: Response): Promise<void> => {
  await res.body?.cancel();
};

/** Unpadded base64url: how the API carries binary fields (e.g. a session's opaque DER). */
export function toBase64url(bytes: Uint8Array): string {
  return encodeBase64url(bytes as Bytes);
}

/** Decodes unpadded base64url; undefined when it is not. */
export function fromBase64url(text: string): Uint8Array | undefined {
  return decodeBase64url(text);
}

/** The lowercase hex spelling of a session id, or undefined when it is not 1 to 32 bytes. */
export function sessionIdHex(id: SessionId): string | undefined {
  if (typeof id === "string") return SESSION_ID.test(id) ? id : undefined;
  return id.length >= 1 && id.length <= 32 ? encodeHex(id as Bytes) : undefined;
}

function peerPath(peer: string): string | undefined {
  // host:port[/sni]: letters, digits, . - : [ ] / only; the service checks the canonical form.
  return /^[A-Za-z0-9.:[\]/-]{1,513}$/.test(peer) ? peer : undefined;
}

export class ResumptionClient {
  private readonly base: string;
  private readonly token: string;
  private readonly timeout: number;
  private readonly retries: number;
  private readonly fetchImpl: FetchLike;
  private readonly headers: Record<string, string>;

  constructor(options: ClientOptions) {
    this.base = String(options.baseUrl).replace(/\/+$/, "");
    this.token = options.token;
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.retries = options.retries ?? DEFAULT_RETRIES;
    // Called through a closure: a bare reference to the global fetch loses its `this` in Workers.
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.headers = { ...options.headers };
  }

  // Tickets

  /** POST /v1/tickets: seals a session into a ticket under the active key. Not retried. */
  sealTicket(request: SealTicketRequest, options?: CallOptions): Promise<Result<SealedTicket>> {
    return this.call({ method: "POST", path: "/v1/tickets", body: request, idempotent: false, read: json<SealedTicket> }, options);
  }

  /**
   * POST /v1/tickets/open: a 422 (its code says why) means a full handshake. Not retried: a single-use ticket opens once.
   * A binary ticket as bytes or base64url, or a JWE ticket as its compact text.
   */
  openTicket(ticket: string | Uint8Array, extra: OpenTicketOptions = {}, options?: CallOptions): Promise<Result<OpenedTicket>> {
    const text = typeof ticket === "string" ? ticket : toBase64url(ticket);
    return this.call({ method: "POST", path: "/v1/tickets/open", body: { ticket: text, ...extra }, idempotent: false, read: json<OpenedTicket> }, options);
  }

  /** GET /healthz: liveness; needs no token. */
  health(options?: CallOptions): Promise<Result<Health>> {
    return this.call({ method: "GET", path: "/healthz", idempotent: true, read: json<Health> }, options);
  }

  // Keys

  /** GET /v1/keys: the ring's public state. */
  getKeys(options?: CallOptions): Promise<Result<KeyRingState>> {
    return this.call({ method: "GET", path: "/v1/keys", idempotent: true, read: json<KeyRingState> }, options);
  }

  /** POST /v1/keys/rotate (admin). Not retried. */
  rotateKeys(request: { revoke?: boolean } = {}, options?: CallOptions): Promise<Result<RotateResult>> {
    return this.call({ method: "POST", path: "/v1/keys/rotate", body: request, idempotent: false, read: json<RotateResult> }, options);
  }

  /** GET /v1/keys/export (admin or stek): the ring's keys as ticket keys for nginx, Envoy, HAProxy or Node. */
  exportKeys(format: StekFormat, request: { slots?: number } = {}, options?: CallOptions): Promise<Result<StekExport>> {
    const query = new URLSearchParams({ format });
    if (request.slots !== undefined) query.set("slots", String(request.slots));
    return this.call({ method: "GET", path: `/v1/keys/export?${query}`, idempotent: true, read: json<StekExport> }, options);
  }

  /** GET /v1/keys/export?format=jwk (admin or stek): the context's ticket subkeys as a JWK Set, for JWE tickets. */
  exportJwk(options?: CallOptions): Promise<Result<JwkExport>> {
    return this.call({ method: "GET", path: "/v1/keys/export?format=jwk", idempotent: true, read: json<JwkExport> }, options);
  }

  // The session store (server side: by session id)

  /** PUT /v1/sessions/{id}: stores a session (OpenSSL's new-session callback). Retried: the same PUT twice stores once. */
  putSession(id: SessionId, session: SessionJson, request: StoreSessionOptions = {}, options?: CallOptions): Promise<Result<StoredSessionInfo>> {
    const hex = sessionIdHex(id);
    if (!hex) return invalidId();
    return this.call({ method: "PUT", path: `/v1/sessions/${hex}`, body: { session, ...request }, idempotent: true, read: json<StoredSessionInfo> }, options);
  }

  /** POST /v1/sessions: stores a session under an id the service generates. Not retried. */
  createSession(session: SessionJson, request: StoreSessionOptions = {}, options?: CallOptions): Promise<Result<StoredSessionInfo>> {
    return this.call({ method: "POST", path: "/v1/sessions", body: { session, ...request }, idempotent: false, read: json<StoredSessionInfo> }, options);
  }

  /** GET /v1/sessions/{id}: OpenSSL's get-session callback. A 404 is code session_not_found. */
  getSession(id: SessionId, options?: CallOptions): Promise<Result<StoredSession>> {
    const hex = sessionIdHex(id);
    if (!hex) return invalidId();
    return this.call({ method: "GET", path: `/v1/sessions/${hex}`, idempotent: true, read: json<StoredSession> }, options);
  }

  /** HEAD /v1/sessions/{id}: whether a session is stored (SSL_has_matching_session_id). */
  hasSession(id: SessionId, options?: CallOptions): Promise<Result<boolean>> {
    const hex = sessionIdHex(id);
    if (!hex) return invalidId();
    return this.call({ method: "HEAD", path: `/v1/sessions/${hex}`, idempotent: true, read: async (r) => (await none(r), true), answers: { 404: false } }, options);
  }

  /** DELETE /v1/sessions/{id}: OpenSSL's remove callback (e.g. after an unclean shutdown). Idempotent. */
  deleteSession(id: SessionId, options?: CallOptions): Promise<Result<void>> {
    const hex = sessionIdHex(id);
    if (!hex) return invalidId();
    return this.call({ method: "DELETE", path: `/v1/sessions/${hex}`, idempotent: true, read: none }, options);
  }

  /** POST /v1/sessions/{id}/take: get and delete at once, for single-use resumption (TLS 1.3). Not retried. */
  takeSession(id: SessionId, options?: CallOptions): Promise<Result<StoredSession>> {
    const hex = sessionIdHex(id);
    if (!hex) return invalidId();
    return this.call({ method: "POST", path: `/v1/sessions/${hex}/take`, idempotent: false, read: json<StoredSession> }, options);
  }

  /** POST /v1/sessions/flush (admin): SSL_CTX_flush_sessions on the answering isolate's cache. Not retried. */
  flushSessions(request: { before?: number } = {}, options?: CallOptions): Promise<Result<FlushResult>> {
    return this.call({ method: "POST", path: "/v1/sessions/flush", body: request, idempotent: false, read: json<FlushResult> }, options);
  }

  /** GET /v1/stats (admin): the answering isolate's session cache counters. */
  stats(options?: CallOptions): Promise<Result<SessionStats>> {
    return this.call({ method: "GET", path: "/v1/stats", idempotent: true, read: json<SessionStats> }, options);
  }

  // The session store (client side: by origin peer, for a proxy connecting onward)

  /** PUT /v1/client-sessions/{peer}: the session a proxy holds with an origin ("host:port" or "host:port/sni"). */
  putClientSession(peer: string, session: SessionJson, request: StoreSessionOptions = {}, options?: CallOptions): Promise<Result<ClientSessionInfo>> {
    const path = peerPath(peer);
    if (!path) return invalidPeer();
    return this.call({ method: "PUT", path: `/v1/client-sessions/${path}`, body: { session, ...request }, idempotent: true, read: json<ClientSessionInfo> }, options);
  }

  /** GET /v1/client-sessions/{peer}. A 404 is code session_not_found. */
  getClientSession(peer: string, options?: CallOptions): Promise<Result<ClientSession>> {
    const path = peerPath(peer);
    if (!path) return invalidPeer();
    return this.call({ method: "GET", path: `/v1/client-sessions/${path}`, idempotent: true, read: json<ClientSession> }, options);
  }

  /** HEAD /v1/client-sessions/{peer}: whether a session is stored for the peer. */
  hasClientSession(peer: string, options?: CallOptions): Promise<Result<boolean>> {
    const path = peerPath(peer);
    if (!path) return invalidPeer();
    return this.call({ method: "HEAD", path: `/v1/client-sessions/${path}`, idempotent: true, read: async (r) => (await none(r), true), answers: { 404: false } }, options);
  }

  /** DELETE /v1/client-sessions/{peer}. Idempotent. */
  deleteClientSession(peer: string, options?: CallOptions): Promise<Result<void>> {
    const path = peerPath(peer);
    if (!path) return invalidPeer();
    return this.call({ method: "DELETE", path: `/v1/client-sessions/${path}`, idempotent: true, read: none }, options);
  }

  /** One call: attempts within one deadline; never rejects. */
  private async call<T>(spec: Spec<T>, options: CallOptions = {}): Promise<Result<T>> {
    const timeout = options.timeout ?? this.timeout;
    const maxAttempts = 1 + (spec.idempotent ? Math.max(0, options.retries ?? this.retries) : 0);
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Resolves at the deadline, whatever the fetch does with its signal: a
    // fetch that ignores aborts still cannot hold the caller past it.
    const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve(TIMED_OUT);
      }, timeout);
    });
    const callerSignal = options.signal;
    const onAbort = () => controller.abort();
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    const headers: Record<string, string> = { ...this.headers, accept: "application/json", ...(this.token !== "" && { authorization: `Bearer ${this.token}` }) };
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["content-type"] = "application/json";
    }
    const url = `${this.base}${spec.path}`;
    let attempts = 0;
    const fail = (code: ResultErrorCode, message: string, status?: number, field?: string, retryAfter?: number): Result<T> => ({
      ok: false,
      error: new ClientError(code, message, {
        ...(status !== undefined && { status }),
        ...(field !== undefined && { field }),
        ...(retryAfter !== undefined && { retryAfter }),
        attempts,
      }),
    });
    const stopped = (): Result<T> | undefined =>
      callerSignal?.aborted ? fail("aborted", "the caller aborted the call") : controller.signal.aborted ? fail("timeout", `no answer within ${timeout} ms`) : undefined;
    try {
      for (;;) {
        const early = stopped();
        if (early) return early;
        attempts++;
        let res: Response | typeof TIMED_OUT;
        try {
          res = await Promise.race([this.fetchImpl(url, { method: spec.method, headers, body, signal: controller.signal }), deadline]);
        } catch (e) {
          const why = stopped();
          if (why) return why;
          if (attempts < maxAttempts) continue;
          return fail("network_error", e instanceof Error ? e.message : String(e));
        }
        if (res === TIMED_OUT) return fail("timeout", `no answer within ${timeout} ms`);
        if (RETRY_STATUSES.has(res.status) && attempts < maxAttempts) {
          void res.body?.cancel().catch(() => {});
          continue;
        }
        try {
          const answered = spec.answers?.[res.status];
          if (answered !== undefined) {
            void res.body?.cancel().catch(() => {});
            return { ok: true, value: answered, status: res.status };
          }
          if (res.ok) {
            const value = await Promise.race([spec.read(res), deadline]);
            if (value === TIMED_OUT) return fail("timeout", `no complete answer within ${timeout} ms`);
            return { ok: true, value, status: res.status };
          }
          const retryAfter = retryAfterSeconds(res.headers.get("retry-after"));
          const error = await Promise.race([errorBody(res), deadline]);
          if (error === TIMED_OUT) return fail("timeout", `no complete answer within ${timeout} ms`, res.status);
          if (!error) return fail("http_error", `HTTP ${res.status} without the service's error body`, res.status, undefined, retryAfter);
          return fail(error.code, error.message, res.status, error.field, retryAfter);
        } catch (e) {
          const why = stopped();
          if (why) return why;
          return fail("invalid_response", `the answer could not be read: ${e instanceof Error ? e.message : String(e)}`, res.status);
        }
      }
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    }
  }
}

/** Retry-After as seconds (delta-seconds only; the service never sends a date). */
function retryAfterSeconds(header: string | null): number | undefined {
  return header !== null && /^[0-9]{1,6}$/.test(header.trim()) ? Number(header.trim()) : undefined;
}

/** The service's {"error": {"code", "message", "field"?}}, or undefined for any other body. */
async function errorBody(res: Response): Promise<{ code: ErrorCode; message: string; field?: string } | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await res.text());
  } catch {
    return undefined;
  }
  const error = (value as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown; field?: unknown } | undefined;
  if (!error || typeof error.code !== "string" || typeof error.message !== "string") return undefined;
  return { code: error.code as ErrorCode, message: error.message, ...(typeof error.field === "string" && { field: error.field }) };
}

function invalidId<T>(): Promise<Result<T>> {
  return Promise.resolve({ ok: false, error: new ClientError("invalid_argument", "a session id is 1 to 32 bytes (lowercase hex as a string)", { field: "id" }) });
}

function invalidPeer<T>(): Promise<Result<T>> {
  return Promise.resolve({ ok: false, error: new ClientError("invalid_argument", "a peer is host:port or host:port/sni", { field: "peer" }) });
}

/**
 * The floor of a ticket-open route over HTTP on this runtime (part 3's
 * reference): a minimal Hono worker, no project code but src/core, that adds
 * one piece of the open path per rung. Served by the same Miniflare as the
 * service and loaded by wrk in the same runs, it shows what a POST that
 * reads JSON, hashes a bearer token and opens a ticket costs at the least,
 * and so how far the target (90% of a trivial route's requests/s) is
 * reachable at all.
 *
 *   GET  /healthz       the trivial route (same as the service's)
 *   POST /r1-body       + read the JSON body and parse it
 *   POST /r2-auth       + SHA-256 of the bearer token, compared with the grant
 *   POST /r3-open       + base64url decode and openTicket (TicketKeyCache, subkey derived)
 *   POST /r4-full       + the service's full answer (sessionToJson, ids in hex)
 *   POST /p1-body       r1 with the project's own body reader (src/http/body.ts readJsonObject)
 *   POST /p2-auth       p1 + the project's own authenticate (src/http/auth.ts)
 *   GET  /ticket        a ticket sealed under this worker's key (for the bodies)
 *
 * The p rungs put the project's two request-edge functions in place of the
 * minimal ones, so each is priced on its own, A/B, in the same runs.
 */
import { Hono } from "hono";
import {
  decodeBase64url,
  encodeBase64url,
  encodeHex,
  openTicket,
  sealTicket,
  sessionToJson,
  TicketKeyCache,
  timingSafeEqual,
  utf8,
  type Bytes,
} from "../src/core/index.js";
import type { Scope } from "../src/auth/caller.js";
import type { TokenGrant } from "../src/config.js";
import { authenticate } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { CONTEXT, ISSUED_AT, LIFETIME, referenceSession, SESSION_ID } from "./core-cases.js";

const TOKEN = "esr_bench_ladder_token";
const KEY_ID = 0x1adde7;

interface Ready {
  keys: TicketKeyCache;
  tokenHash: Bytes;
  grants: TokenGrant[];
  ticket: string;
}
let ready: Promise<Ready> | undefined;

function setup(): Promise<Ready> {
  ready ??= (async () => {
    const keys = new TicketKeyCache();
    keys.add(KEY_ID, crypto.getRandomValues(new Uint8Array(32)));
    const key = await keys.subkey(KEY_ID, CONTEXT)!;
    const now = Math.floor(Date.now() / 1000);
    const ticket = await sealTicket({
      session: referenceSession,
      sessionId: SESSION_ID,
      withLookupId: false,
      issuedAt: now,
      lifetime: LIFETIME,
      singleUse: false,
      context: CONTEXT,
      keyId: KEY_ID,
      key,
    });
    const tokenHash = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(TOKEN)));
    const grants: TokenGrant[] = [{ hash: tokenHash, context: CONTEXT, scopes: new Set<Scope>(["tickets"]) }];
    return { keys, tokenHash, grants, ticket: encodeBase64url(ticket) };
  })();
  return ready;
}
void ISSUED_AT;

async function body(req: Request): Promise<Record<string, unknown>> {
  return JSON.parse(await req.text()) as Record<string, unknown>;
}

async function auth(req: Request, r: Ready): Promise<void> {
  const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(req.headers.get("authorization") ?? "");
  if (!m) throw new Error("unauthorized");
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(m[1]!)));
  if (!timingSafeEqual(hash, r.tokenHash)) throw new Error("unauthorized");
}

async function open(b: Record<string, unknown>, r: Ready) {
  const bytes = decodeBase64url(String(b.ticket));
  if (!bytes) throw new Error("malformed");
  return openTicket(bytes, { context: CONTEXT, now: Math.floor(Date.now() / 1000), keys: r.keys });
}

const app = new Hono()
  .get("/healthz", (c) => c.json({ status: "ok" }))
  .get("/ticket", async (c) => c.json({ ticket: (await setup()).ticket, token: TOKEN }))
  .post("/r1-body", async (c) => {
    const b = await body(c.req.raw);
    return c.json({ ok: typeof b.ticket === "string" });
  })
  .post("/r2-auth", async (c) => {
    const r = await setup();
    await auth(c.req.raw, r);
    const b = await body(c.req.raw);
    return c.json({ ok: typeof b.ticket === "string" });
  })
  .post("/r3-open", async (c) => {
    const r = await setup();
    await auth(c.req.raw, r);
    const opened = await open(await body(c.req.raw), r);
    return c.json({ key_id: opened.keyId });
  })
  .post("/p1-body", async (c) => {
    const b = await readJsonObject(c.req.raw);
    return c.json({ ok: typeof b.ticket === "string" });
  })
  .post("/p2-auth", async (c) => {
    const r = await setup();
    await authenticate(c.req.header("authorization"), r.grants);
    const b = await readJsonObject(c.req.raw);
    return c.json({ ok: typeof b.ticket === "string" });
  })
  .post("/r4-full", async (c) => {
    const r = await setup();
    await auth(c.req.raw, r);
    const opened = await open(await body(c.req.raw), r);
    return c.json({
      session: sessionToJson(opened.session),
      session_id: encodeHex(opened.sessionId),
      key_id: opened.keyId,
      issued_at: opened.issuedAt,
      expires_at: opened.expiresAt,
      single_use: opened.singleUse,
      renew: false,
      source: "ticket",
    });
  });

app.onError((err, c) => c.json({ error: err.message }, err.message === "unauthorized" ? 401 : 422));

export default app;

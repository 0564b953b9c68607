/**
 * The candidates of the core benchmark (parts 1, 2 and 4 of docs/benchmarks.md),
 * written once with Web APIs only and bundled twice by bench/lib/build.mjs:
 * into the workerd bench worker (bench/workerd-core.ts) and into a Node 20
 * script (bench/node-core.ts). Every candidate seals and opens the same
 * reference TLS 1.2 session; each is checked once for a correct round trip
 * before it is ever timed.
 */
import { CompactEncrypt, compactDecrypt } from "jose";
import * as Iron from "iron-webcrypto";
import reference from "./reference.json";
import {
  decodeBase64url,
  encodeBase64url,
  encodeHex,
  openTicket,
  parseSession,
  sealTicket,
  sessionToJson,
  TicketKeyCache,
  TICKET_OVERHEAD,
  utf8,
  type Bytes,
  type SealInput,
  type Session,
  type SessionJson,
} from "../src/core/index.js";
import { ByteReader, ByteWriter, readSession, writeSession } from "../src/core/internal.js";
import { openJweTicket, sealJweTicket } from "../src/tickets/jwe.js";

/**
 * The reference session: TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 (49195), a
 * 48-byte master secret, a 20-character SNI, extended master secret (what
 * OpenSSL 3.0 negotiates by default), no certificates. The same record as
 * test/worker/harness.ts's TLS12_SESSION, with the times fixed. The HTTP
 * parts send the same JSON (bench/reference.json).
 */
export const REFERENCE_SESSION_JSON = reference as SessionJson & { master_secret: string; server_name: string };

export const CONTEXT = "default";
/** Unix seconds; far enough in the future that no ticket expires during a run. */
export const ISSUED_AT = 1_900_000_000;
export const LIFETIME = 7200;
const NOW = ISSUED_AT + 60;

export const referenceSession: Session = parseSession(REFERENCE_SESSION_JSON, { now: ISSUED_AT, timeout: LIFETIME });
/** 32 bytes, the length OpenSSL gives a session id and the API generates when none is given. */
export const SESSION_ID: Bytes = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);

/**
 * What a JWE or iron ticket would carry to say the same as ours: the session
 * in the API's JSON, its id, issue time, lifetime and single-use flag.
 */
export const JSON_TICKET_PAYLOAD = {
  session_id: encodeBase64url(SESSION_ID),
  issued_at: ISSUED_AT,
  lifetime: LIFETIME,
  single_use: false,
  session: sessionToJson(referenceSession),
};

/** The same information with one-letter keys: the smallest JSON a JWE design would plausibly use. */
export const JSON_TICKET_PAYLOAD_SHORT = {
  i: JSON_TICKET_PAYLOAD.session_id,
  t: ISSUED_AT,
  l: LIFETIME,
  s: {
    v: 3,
    c: 49195,
    m: REFERENCE_SESSION_JSON.master_secret,
    e: 1,
    n: REFERENCE_SESSION_JSON.server_name,
    a: ISSUED_AT,
    o: LIFETIME,
  },
};

/** The plaintext our ticket body has for the reference session (sealTicket's layout, no lookup id). */
function ticketBody(): Bytes {
  const w = new ByteWriter(160);
  w.u8(1 << 1).varint(ISSUED_AT).varint(LIFETIME).u8(SESSION_ID.length).bytes(SESSION_ID);
  writeSession(w, referenceSession);
  return w.finish();
}

/** What every candidate built on sealTicket or sealJweTicket seals: the reference session under one key. */
const referenceSealInput = (keyId: number, key: CryptoKey, withLookupId = false): SealInput => ({
  session: referenceSession,
  sessionId: SESSION_ID,
  withLookupId,
  issuedAt: ISSUED_AT,
  lifetime: LIFETIME,
  singleUse: false,
  context: CONTEXT,
  keyId,
  key,
});

const randomKeyBytes = (): Bytes => crypto.getRandomValues(new Uint8Array(32));
const aesKey = (raw: Bytes) => crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);

export interface Candidate {
  id: string;
  label: string;
  /** One seal + open round trip (or one open, for the ring cases); returns a byte count so nothing is optimised away. */
  op(): Promise<number>;
}

export interface Sizes {
  [name: string]: { bytes: number; text: number; note: string };
}

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`self-check failed: ${what}`);
}

const sameSessionJson = (got: unknown) =>
  JSON.stringify(got) === JSON.stringify(JSON_TICKET_PAYLOAD.session) ||
  JSON.stringify((got as { session?: unknown }).session) === JSON.stringify(JSON_TICKET_PAYLOAD.session);

/**
 * Builds the five part-1 candidates, checks each round trip once, and
 * measures the ticket sizes of part 2.
 */
export async function makeCandidates(): Promise<{ candidates: Candidate[]; breakdown: Candidate[]; sizes: Sizes; plaintextBytes: number }> {
  const material = randomKeyBytes();

  // (a) The floor: AES-256-GCM of the same plaintext with the same AAD, a fresh random nonce, a cached CryptoKey.
  const rawKey = await aesKey(material);
  const body = ticketBody();
  const aadBytes = new Uint8Array(5 + 12 + CONTEXT.length);
  aadBytes.set(utf8.encode(CONTEXT), 17);
  const floor: Candidate = {
    id: "a",
    label: "raw AES-GCM encrypt+decrypt (cached CryptoKey)",
    async op() {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aadBytes }, rawKey, body);
      const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aadBytes }, rawKey, ct);
      return pt.byteLength;
    },
  };

  // (b) This project's core: sealTicket + openTicket, subkey already derived in a TicketKeyCache.
  const cache = new TicketKeyCache();
  const KEY_ID = 0x5a17c3;
  cache.add(KEY_ID, material.slice());
  const subkey = await cache.subkey(KEY_ID, CONTEXT)!;
  const openOptions = { context: CONTEXT, now: NOW, keys: cache };
  const seal = () => sealTicket(referenceSealInput(KEY_ID, subkey));
  const core: Candidate = {
    id: "b",
    label: "this project: sealTicket + openTicket (TicketKeyCache, subkey derived)",
    async op() {
      const ticket = await seal();
      const opened = await openTicket(ticket, openOptions);
      return ticket.length + opened.sessionId.length;
    },
  };

  // (c), (d) jose compact JWE, dir + A256GCM, the API's JSON as the plaintext.
  const joseKey = await aesKey(material);
  const joseRaw = material.slice();
  const jweSeal = (key: CryptoKey | Uint8Array, payload: unknown) =>
    new CompactEncrypt(utf8.encode(JSON.stringify(payload))).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(key);
  const jweOpen = async (jwe: string, key: CryptoKey | Uint8Array) => JSON.parse(utf8.decode((await compactDecrypt(jwe, key)).plaintext as Bytes));
  const joseCryptoKey: Candidate = {
    id: "c",
    label: "jose compact JWE dir+A256GCM (CryptoKey)",
    async op() {
      const jwe = await jweSeal(joseKey, JSON_TICKET_PAYLOAD);
      const back = await jweOpen(jwe, joseKey);
      return jwe.length + (back.issued_at as number);
    },
  };
  const joseRawKey: Candidate = {
    id: "d",
    label: "jose compact JWE dir+A256GCM (raw key bytes)",
    async op() {
      const jwe = await jweSeal(joseRaw, JSON_TICKET_PAYLOAD);
      const back = await jweOpen(jwe, joseRaw);
      return jwe.length + (back.issued_at as number);
    },
  };

  // (e) iron-webcrypto seal/unseal with its defaults (AES-256-CBC + HMAC-SHA-256, PBKDF2 with 1 iteration).
  const ironPassword = encodeHex(material); // 64 characters; iron wants at least 32
  const iron: Candidate = {
    id: "e",
    label: "iron-webcrypto seal + unseal (defaults)",
    async op() {
      const sealed = await Iron.seal(JSON_TICKET_PAYLOAD, ironPassword, Iron.defaults);
      const back = (await Iron.unseal(sealed, ironPassword, Iron.defaults)) as typeof JSON_TICKET_PAYLOAD;
      return sealed.length + back.issued_at;
    },
  };

  // (f) This project's JWE format (src/tickets/jwe.ts): jose under the same subkey, plus the format's checks and the session's validation on open.
  const sealJwe = () => sealJweTicket(referenceSealInput(KEY_ID, subkey));
  const projectJwe: Candidate = {
    id: "f",
    label: "this project's JWE format: sealJweTicket + openJweTicket (jose, the same subkey, full checks)",
    async op() {
      const jwe = await sealJwe();
      const opened = await openJweTicket(jwe, openOptions);
      return jwe.length + opened.sessionId.length;
    },
  };

  // Self-checks: every candidate really round-trips the reference session.
  {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aadBytes }, rawKey, body);
    const pt = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aadBytes }, rawKey, ct));
    assert(encodeHex(pt) === encodeHex(body), "(a) round trip");
  }
  const ticket = await seal();
  const ticketWithLookupId = await sealTicket(referenceSealInput(KEY_ID, subkey, true));
  {
    const opened = await openTicket(ticket, openOptions);
    assert(JSON.stringify(sessionToJson(opened.session)) === JSON.stringify(JSON_TICKET_PAYLOAD.session), "(b) session");
    assert(encodeHex(opened.sessionId) === encodeHex(SESSION_ID), "(b) session id");
    assert(ticket.length === TICKET_OVERHEAD + body.length, "(b) ticket length = overhead + body");
  }
  const jwe = await jweSeal(joseKey, JSON_TICKET_PAYLOAD);
  assert(sameSessionJson(await jweOpen(jwe, joseKey)), "(c) round trip");
  assert(sameSessionJson(await jweOpen(await jweSeal(joseRaw, JSON_TICKET_PAYLOAD), joseRaw)), "(d) round trip");
  const jweShort = await jweSeal(joseKey, JSON_TICKET_PAYLOAD_SHORT);
  const jweBinary = await new CompactEncrypt(body).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(joseKey);
  const jweKid = await new CompactEncrypt(utf8.encode(JSON.stringify(JSON_TICKET_PAYLOAD)))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: String(KEY_ID) })
    .encrypt(joseKey);
  const projectJweTicket = await sealJwe();
  {
    const opened = await openJweTicket(projectJweTicket, openOptions);
    assert(JSON.stringify(sessionToJson(opened.session)) === JSON.stringify(JSON_TICKET_PAYLOAD.session), "(f) session");
  }
  const sealed = await Iron.seal(JSON_TICKET_PAYLOAD, ironPassword, Iron.defaults);
  assert(sameSessionJson(await Iron.unseal(sealed, ironPassword, Iron.defaults)), "(e) round trip");
  const sealedShort = await Iron.seal(JSON_TICKET_PAYLOAD_SHORT, ironPassword, Iron.defaults);
  assert(decodeBase64url(encodeBase64url(ticket))!.length === ticket.length, "base64url");

  const text = (s: string) => ({ bytes: s.length, text: s.length });
  const sizes: Sizes = {
    project: { bytes: ticket.length, text: encodeBase64url(ticket).length, note: "binary in the TLS NewSessionTicket; base64url only in the HTTP API" },
    project_lookup: { bytes: ticketWithLookupId.length, text: encodeBase64url(ticketWithLookupId).length, note: "sealed with store: true: the 32-byte session id in clear as the lookup id" },
    project_jwe: { ...text(projectJweTicket), note: "POST /v1/tickets with format: jwe (kid, ctx, iat, exp in the header; session_id, single_use, session JSON as the payload)" },
    jose: { ...text(jwe), note: "compact JWE, dir+A256GCM, API JSON payload, no kid" },
    jose_kid: { ...text(jweKid), note: "the same with a kid header (what rotation needs)" },
    jose_short: { ...text(jweShort), note: "compact JWE, one-letter JSON keys" },
    jose_binary: { ...text(jweBinary), note: "compact JWE of this project's binary ticket body" },
    iron: { ...text(sealed), note: "iron Fe26.2, defaults, API JSON payload" },
    iron_short: { ...text(sealedShort), note: "iron, one-letter JSON keys" },
  };
  // The parts of (b), to see where its time goes: seal alone, open alone, and
  // the binary codec of the ticket body with no crypto at all.
  const sealOnly: Candidate = { id: "b-seal", label: "sealTicket alone", op: async () => (await seal()).length };
  const openOnly: Candidate = { id: "b-open", label: "openTicket alone (a ticket sealed beforehand)", op: async () => (await openTicket(ticket, openOptions)).lifetime };
  const codec: Candidate = {
    id: "codec",
    label: "the ticket body's codec alone: writeSession + readSession, no crypto",
    async op() {
      const w = new ByteWriter(160);
      w.u8(1 << 1).varint(ISSUED_AT).varint(LIFETIME).u8(SESSION_ID.length).bytes(SESSION_ID);
      writeSession(w, referenceSession);
      const bytes = w.finish();
      const r = new ByteReader(bytes, "ticket_malformed");
      r.u8("flags");
      r.varint("issued_at");
      r.varint("lifetime");
      r.bytes(r.u8("session id length"), "session id");
      return readSession(r).timeout;
    },
  };
  assert((await codec.op()) === LIFETIME, "codec round trip");

  return { candidates: [floor, core, joseCryptoKey, joseRawKey, iron, projectJwe], breakdown: [sealOnly, openOnly, codec], sizes, plaintextBytes: body.length };
}

/**
 * Part 4: a TicketKeyCache holding `keys` ring keys (random 24-bit ids, every
 * subkey derived), and `tickets` tickets sealed under keys picked at random.
 * The candidate opens them in turn. A second candidate with the smallest
 * ring (id "ring<N>-control") shows how far two identical candidates differ:
 * the noise floor of the comparison.
 */
export async function makeRingCandidate(keys: number, tickets = 256, id = `ring${keys}`): Promise<Candidate> {
  const cache = new TicketKeyCache();
  const ids = new Set<number>();
  while (ids.size < keys) ids.add(crypto.getRandomValues(new Uint32Array(1))[0]! & 0xffffff);
  const idList = [...ids];
  for (const id of idList) cache.add(id, randomKeyBytes());
  const subkeys = new Map<number, CryptoKey>();
  for (const id of idList) subkeys.set(id, await cache.subkey(id, CONTEXT)!);
  const sealed: Bytes[] = [];
  const pick = crypto.getRandomValues(new Uint32Array(tickets));
  for (let i = 0; i < tickets; i++) {
    const keyId = idList[pick[i]! % idList.length]!;
    sealed.push(
      await sealTicket(referenceSealInput(keyId, subkeys.get(keyId)!)),
    );
  }
  const options = { context: CONTEXT, now: NOW, keys: cache };
  const check = await openTicket(sealed[0]!, options);
  assert(check.session.server_name === REFERENCE_SESSION_JSON.server_name, `ring ${keys}: open`);
  let i = 0;
  return {
    id,
    label: `openTicket, ${keys} keys in the ring`,
    async op() {
      const opened = await openTicket(sealed[i++ % tickets]!, options);
      return opened.lifetime;
    },
  };
}

/** Runs `n` operations of a candidate back to back. */
export async function runOps(c: Candidate, n: number): Promise<number> {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += await c.op();
  return sink;
}

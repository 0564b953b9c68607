#!/usr/bin/env node
/**
 * Generates test/vectors/ticket-v1.json: interoperability vectors for ticket
 * format v1 (docs/ticket-format.md).
 *
 *   node scripts/gen-vectors.mjs           # (re)write the vectors
 *   node scripts/gen-vectors.mjs --check   # exit 1 if the file would change
 *
 * Plain Node (>= 20), no tsx: esbuild (installed with wrangler) bundles
 * src/core/index.ts in memory and the bundle is imported from a data: URL.
 * Every input is fixed (key material, nonces, clocks), so the output is
 * deterministic: running the script twice gives the same file, and a change
 * in the file means the wire format changed.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "test/vectors/ticket-v1.json");

const built = await esbuild.build({
  entryPoints: [join(root, "src/core/index.ts")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  write: false,
  logLevel: "error",
});
const core = await import(`data:text/javascript;base64,${Buffer.from(built.outputFiles[0].contents).toString("base64")}`);
const { TicketKeyCache, parseSession, sealTicket, openTicket, encodeSession, sessionToJson, encodeHex, decodeHex, encodeBase64url, ResumptionError } = core;

/** Deterministic "random" bytes: SHA-256 in counter mode over a label. */
function bytes(label, length) {
  const chunks = [];
  for (let i = 0; chunks.length * 32 < length; i++) {
    chunks.push(createHash("sha256").update(`esr test vector ${label} ${i}`).digest());
  }
  return new Uint8Array(Buffer.concat(chunks).subarray(0, length));
}
const hex = (label, length) => encodeHex(bytes(label, length));
const b64 = (label, length) => encodeBase64url(bytes(label, length));

/** A DER-shaped blob (SEQUENCE with a two-byte length) of `length` bytes in all. */
function fakeDer(label, length) {
  const b = bytes(label, length);
  b[0] = 0x30;
  b[1] = 0x82;
  b[2] = (length - 4) >> 8;
  b[3] = (length - 4) & 255;
  return encodeBase64url(b);
}

const KEY_A = hex("ring key A", 32);
const KEY_B = hex("ring key B", 32);
const KEY_MAX = hex("ring key max id", 32);
// 2026-01-01T00:00:00Z
const T0 = 1_767_225_600;

/** Valid cases: inputs only; the generator computes every expected value. */
const valid = [
  {
    name: "tls12-reference",
    description:
      "The reference session: TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 (0xC02B), 48-byte master secret, " +
      "extended master secret, 20-character SNI; 32-byte session id sealed inside the body (no lookup id).",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce tls12-reference", 12),
    session_id: hex("session id tls12-reference", 32),
    with_lookup_id: false,
    issued_at: T0,
    lifetime: 7200,
    single_use: false,
    session: {
      version: "TLSv1.2",
      cipher_suite: 0xc02b,
      master_secret: b64("master secret tls12-reference", 48),
      extended_master_secret: true,
      server_name: "resume.example-a.com",
      created_at: T0,
      timeout: 7200,
    },
  },
  {
    name: "tls13-early-data",
    description:
      "TLS 1.3, TLS_AES_128_GCM_SHA256 (0x1301), 32-byte resumption secret, ticket_age_add, max_early_data, ALPN h2; " +
      "a 3-byte key id and a context other than default.",
    key_id: 0x0a0b0c,
    key_material: KEY_B,
    context: "edge-eu",
    nonce: hex("nonce tls13-early-data", 12),
    session_id: hex("session id tls13-early-data", 32),
    with_lookup_id: false,
    issued_at: T0 + 60,
    lifetime: 86_400,
    single_use: false,
    session: {
      version: "TLSv1.3",
      cipher_suite: 0x1301,
      master_secret: b64("resumption secret tls13-early-data", 32),
      server_name: "api.example-b.net",
      alpn: "h2",
      ticket_age_add: 0x9a3c5e7f,
      max_early_data: 16_384,
      created_at: T0 + 60,
      timeout: 86_400,
    },
  },
  {
    name: "opaque-only",
    description:
      "A session the caller serialized itself (e.g. i2d_SSL_SESSION): only opaque bytes, no version, cipher or secret.",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce opaque-only", 12),
    session_id: hex("session id opaque-only", 16),
    with_lookup_id: false,
    issued_at: T0 + 120,
    lifetime: 3600,
    single_use: false,
    session: {
      opaque: b64("opaque opaque-only", 96),
      created_at: T0 + 120,
      timeout: 3600,
    },
  },
  {
    name: "lookup-id",
    description:
      "The session id travels in clear as the lookup id (for the session-store fallback when the key is gone); " +
      "the body then carries no session id.",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce lookup-id", 12),
    session_id: hex("session id lookup-id", 32),
    with_lookup_id: true,
    issued_at: T0 + 180,
    lifetime: 7200,
    single_use: false,
    session: {
      version: "TLSv1.2",
      cipher_suite: 0xc02f,
      master_secret: b64("master secret lookup-id", 48),
      extended_master_secret: true,
      server_name: "www.example-c.org",
      alpn: "http/1.1",
      created_at: T0 + 180,
      timeout: 7200,
    },
  },
  {
    name: "peer-certificate-chain",
    description:
      "A client-authenticated TLS 1.2 session with a two-certificate peer chain, encrypt_then_mac with a CBC suite " +
      "(ECDHE-RSA-AES128-SHA, 0xC013) and max_fragment_length 2048.",
    key_id: 1,
    key_material: KEY_A,
    context: "mtls",
    nonce: hex("nonce peer-certificate-chain", 12),
    session_id: hex("session id peer-certificate-chain", 32),
    with_lookup_id: false,
    issued_at: T0 + 240,
    lifetime: 7200,
    single_use: false,
    session: {
      version: "TLSv1.2",
      cipher_suite: 0xc013,
      master_secret: b64("master secret peer-certificate-chain", 48),
      extended_master_secret: true,
      encrypt_then_mac: true,
      server_name: "mtls.example-d.io",
      peer_certificate_chain: [fakeDer("leaf certificate", 212), fakeDer("intermediate certificate", 164)],
      max_fragment_length: 2048,
      created_at: T0 + 240,
      timeout: 7200,
    },
  },
  {
    name: "single-use",
    description: "A single-use TLS 1.3 ticket (the service records its id on first use and refuses a replay).",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce single-use", 12),
    session_id: hex("session id single-use", 32),
    with_lookup_id: false,
    issued_at: T0 + 300,
    lifetime: 300,
    single_use: true,
    session: {
      version: "TLSv1.3",
      cipher_suite: 0x1303,
      master_secret: b64("resumption secret single-use", 32),
      server_name: "pay.example-e.com",
      ticket_age_add: 0x00000001,
      created_at: T0 + 300,
      timeout: 300,
    },
  },
  {
    name: "tls13-sha384-lookup-single-use",
    description:
      "TLS 1.3, TLS_AES_256_GCM_SHA384 (0x1302) with a 48-byte secret, a 1-byte session id as lookup id, single use, " +
      "max_early_data 0 and ticket_age_add 0xffffffff.",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce tls13-sha384-lookup-single-use", 12),
    session_id: "5a",
    with_lookup_id: true,
    issued_at: T0 + 360,
    lifetime: 600,
    single_use: true,
    session: {
      version: "TLSv1.3",
      cipher_suite: 0x1302,
      master_secret: b64("resumption secret tls13-sha384", 48),
      ticket_age_add: 0xffffffff,
      max_early_data: 0,
      created_at: T0 + 360,
      timeout: 600,
    },
  },
  {
    name: "max-key-id-tls10",
    description:
      "Key id 0xFFFFFF (the largest), TLS 1.0 with TLS_RSA_WITH_AES_128_CBC_SHA (0x002F), the longest lifetime " +
      "(604800 s) and max_fragment_length 512.",
    key_id: 0xffffff,
    key_material: KEY_MAX,
    context: "legacy",
    nonce: hex("nonce max-key-id-tls10", 12),
    session_id: hex("session id max-key-id-tls10", 32),
    with_lookup_id: false,
    issued_at: T0 + 420,
    lifetime: 604_800,
    single_use: false,
    session: {
      version: "TLSv1",
      cipher_suite: 0x002f,
      master_secret: b64("master secret max-key-id-tls10", 48),
      server_name: "old.example-f.com",
      max_fragment_length: 512,
      created_at: T0 + 420,
      timeout: 604_800,
    },
  },
  {
    name: "normalized-input",
    description:
      "Input the parser normalizes: a mixed-case SNI is lowercased; created_at and timeout are absent and come from " +
      "session_defaults; absent booleans become false.",
    key_id: 1,
    key_material: KEY_A,
    context: "default",
    nonce: hex("nonce normalized-input", 12),
    session_id: hex("session id normalized-input", 32),
    with_lookup_id: false,
    issued_at: T0 + 480,
    lifetime: 3600,
    single_use: false,
    session_defaults: { now: T0 + 470, timeout: 3600 },
    session: {
      version: "TLSv1.2",
      cipher_suite: 0xc02b,
      master_secret: b64("master secret normalized-input", 48),
      server_name: "Resume.Example-A.COM",
    },
  },
];

const DEFAULTS = { now: T0, timeout: 7200 };

async function keyFor(keyId, material, context) {
  const cache = new TicketKeyCache();
  cache.add(keyId, decodeHex(material));
  return { cache, key: await cache.subkey(keyId, context) };
}

const cases = [];
const tickets = new Map();
for (const v of valid) {
  const defaults = v.session_defaults ?? DEFAULTS;
  const session = parseSession(v.session, defaults);
  const { cache, key } = await keyFor(v.key_id, v.key_material, v.context);
  const ticket = await sealTicket({
    session,
    sessionId: decodeHex(v.session_id),
    withLookupId: v.with_lookup_id,
    issuedAt: v.issued_at,
    lifetime: v.lifetime,
    singleUse: v.single_use,
    context: v.context,
    keyId: v.key_id,
    key,
    nonce: decodeHex(v.nonce),
  });
  const openAt = v.issued_at + 1;
  const opened = await openTicket(ticket, { context: v.context, now: openAt, keys: cache });
  const sessionBytes = encodeSession(session);
  tickets.set(v.name, { v, ticket, sessionBytes });
  cases.push({
    name: v.name,
    type: "valid",
    description: v.description,
    key_id: v.key_id,
    key_material: v.key_material,
    context: v.context,
    nonce: v.nonce,
    session_id: v.session_id,
    with_lookup_id: v.with_lookup_id,
    issued_at: v.issued_at,
    lifetime: v.lifetime,
    single_use: v.single_use,
    session_defaults: defaults,
    session: v.session,
    open_at: openAt,
    expected: {
      session: sessionToJson(opened.session),
      session_bytes: encodeHex(sessionBytes),
      expires_at: opened.expiresAt,
      ticket_length: ticket.length,
      ticket: encodeHex(ticket),
      ticket_base64url: encodeBase64url(ticket),
    },
  });
}

/** Negative cases: a ticket (derived from a valid one) and the error opening it must raise. */
function negative(name, description, from, mutate, opts = {}) {
  const { v, ticket } = tickets.get(from);
  const bad = mutate(ticket.slice());
  return {
    name,
    type: "invalid",
    description,
    derived_from: from,
    key_id: v.key_id,
    key_material: opts.keyMaterial ?? v.key_material,
    context: opts.context ?? v.context,
    open_at: opts.openAt ?? v.issued_at + 1,
    ticket: encodeHex(bad),
    expected_error: { code: opts.code, ...(opts.lookupId ? { lookup_id: opts.lookupId } : {}) },
  };
}
const flip = (offset, bit) => (t) => ((t[offset] ^= 1 << bit), t);
const ref = tickets.get("tls12-reference");
const refLen = ref.ticket.length;

const negatives = [
  negative("wrong-context", "The reference ticket opened in context \"other\": the context is in the AAD.", "tls12-reference", (t) => t, {
    context: "other",
    code: "ticket_invalid",
  }),
  negative("header-nonce-bit-flip", "Bit 0 of the first nonce byte (offset 5) flipped: the header is authenticated.", "tls12-reference", flip(5, 0), {
    code: "ticket_invalid",
  }),
  negative("lookup-id-bit-flip", "Bit 7 of the lookup id's first byte (offset 5) flipped: the clear lookup id is authenticated too.", "lookup-id", flip(5, 7), {
    code: "ticket_invalid",
  }),
  negative("tag-bit-flip", "The last bit of the GCM tag flipped.", "tls12-reference", flip(refLen - 1, 0), { code: "ticket_invalid" }),
  negative("ciphertext-bit-flip", "A bit of the first ciphertext byte (the body flags) flipped.", "tls12-reference", flip(17, 1), {
    code: "ticket_invalid",
  }),
  negative("wrong-key-material", "The reference ticket opened with another ring key under the same key id.", "tls12-reference", (t) => t, {
    keyMaterial: KEY_B,
    code: "ticket_invalid",
  }),
  negative("version-2", "Version byte 2: refused before any key lookup.", "tls12-reference", (t) => ((t[0] = 2), t), {
    code: "ticket_unsupported_version",
  }),
  negative("version-0", "Version byte 0.", "tls12-reference", (t) => ((t[0] = 0), t), { code: "ticket_unsupported_version" }),
  negative("truncated-header", "The reference ticket cut to its 17-byte header.", "tls12-reference", (t) => t.slice(0, 17), {
    code: "ticket_malformed",
  }),
  negative("truncated-short-body", "Header plus 23 bytes: shorter than a tag and the smallest body.", "tls12-reference", (t) => t.slice(0, 17 + 23), {
    code: "ticket_malformed",
  }),
  negative("truncated-one-byte", "The reference ticket minus its last byte: long enough to parse, fails authentication.", "tls12-reference", (t) => t.slice(0, refLen - 1), {
    code: "ticket_invalid",
  }),
  negative("empty", "No bytes at all.", "tls12-reference", () => new Uint8Array(0), { code: "ticket_malformed" }),
  negative("lookup-id-too-long", "Lookup id length byte 33 (the limit is 32).", "tls12-reference", (t) => ((t[4] = 33), t), {
    code: "ticket_malformed",
  }),
  negative("appended-byte", "One zero byte appended: the tag is no longer where the sealer put it.", "tls12-reference", (t) => {
    const longer = new Uint8Array(t.length + 1);
    longer.set(t);
    return longer;
  }, { code: "ticket_invalid" }),
  negative(
    "unknown-key-with-lookup-id",
    "Key id changed to 2, which the ring does not hold: key_unknown, and the error carries the clear lookup id.",
    "lookup-id",
    (t) => ((t[3] = 2), t),
    { code: "key_unknown", lookupId: tickets.get("lookup-id").v.session_id },
  ),
  negative("unknown-key", "Key id changed to 0x010001 on a ticket without lookup id: key_unknown, no lookup id.", "tls12-reference", (t) => ((t[1] = 1), t), {
    code: "key_unknown",
  }),
  negative("expired", "The reference ticket opened at exactly issued_at + lifetime.", "tls12-reference", (t) => t, {
    openAt: ref.v.issued_at + ref.v.lifetime,
    code: "ticket_expired",
  }),
];

// Check every negative case against the core as it stands before writing it down.
for (const n of negatives) {
  const cache = new TicketKeyCache();
  cache.add(n.key_id, decodeHex(n.key_material));
  try {
    await openTicket(decodeHex(n.ticket), {
      context: n.context,
      now: n.open_at,
      keys: cache,
    });
    throw new Error(`negative vector ${n.name} opened`);
  } catch (e) {
    if (!(e instanceof ResumptionError) || e.code !== n.expected_error.code) {
      throw new Error(`negative vector ${n.name}: expected ${n.expected_error.code}, got ${e?.code ?? e}`);
    }
  }
}

const json = `${JSON.stringify([...cases, ...negatives], null, 2)}\n`;
if (process.argv.includes("--check")) {
  const current = await readFile(out, "utf8").catch(() => "");
  if (current !== json) {
    console.error(`${out} is out of date: run node scripts/gen-vectors.mjs`);
    process.exit(1);
  }
  console.log(`${out} is up to date (${cases.length} valid, ${negatives.length} invalid cases)`);
} else {
  await writeFile(out, json);
  console.log(`wrote ${out}: ${cases.length} valid, ${negatives.length} invalid cases`);
  console.log(`reference ticket (${cases[0].name}): ${cases[0].expected.ticket_length} bytes`);
}

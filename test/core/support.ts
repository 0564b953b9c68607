/**
 * Shared helpers for the core tests (not a test file itself): fast-check
 * arbitraries and an independent ticket decryptor. Web APIs only: this runs
 * in workerd and in Node.
 */
import fc from "fast-check";
import { encodeBase64url, type SessionJson, type TlsVersion } from "../../src/core/index.js";

/** Defaults handed to parseSession when a generated session omits created_at / timeout. */
export const DEFAULTS = { now: 1_767_225_600, timeout: 3600 } as const;

/** Bounded runs: each property file stays well under 10 s in each runtime. */
export const RUNS = { numRuns: 200 } as const;

export const bytesArb = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength });
const b64Arb = (minLength: number, maxLength: number) => bytesArb(minLength, maxLength).map(encodeBase64url);

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);

/** A DNS host name as SNI carries it, lowercase: 1 to 4 labels, the last not a number (the URL parser's IPv4: digits, or 0x and hex). */
export const hostNameArb = fc
  .array(label, { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join("."))
  .filter((name) => name.length <= 253 && !/(^|\.)([0-9]+|0x[0-9a-f]*)$/.test(name));

/** The same, sometimes in mixed case (the parser lowercases it). */
const sniInputArb = fc
  .tuple(hostNameArb, fc.array(fc.boolean(), { minLength: 253, maxLength: 253 }), fc.boolean())
  .map(([name, upper, mix]) => (mix ? [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("") : name));

const printable = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
export const alpnArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("h2", "http/1.1", "h3", "acme-tls/1") },
  { weight: 4, arbitrary: fc.string({ unit: printable, minLength: 1, maxLength: 32 }) },
  { weight: 1, arbitrary: fc.string({ unit: printable, minLength: 255, maxLength: 255 }) },
);

const versionArb = fc.constantFrom<TlsVersion | undefined>(undefined, "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3");
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

/**
 * A valid session in the API's JSON shape (what parseSession accepts), covering
 * every field: optional fields come and go, numbers reach their bounds, byte
 * fields reach their limits now and then.
 */
export const sessionJsonArb: fc.Arbitrary<SessionJson> = versionArb
  .chain((version) => {
    const tls13 = version === "TLSv1.3";
    const upTo12 = version !== undefined && !tls13;
    return fc.record({
      version: fc.constant(version),
      cipher_suite: version === undefined ? fc.constant(undefined) : fc.integer({ min: 0, max: 0xffff }),
      master_secret:
        version === undefined ? fc.constant(undefined) : opt(tls13 ? fc.oneof(b64Arb(32, 32), b64Arb(48, 48)) : b64Arb(48, 48)),
      extended_master_secret: tls13 ? fc.constant(undefined) : opt(fc.boolean()),
      encrypt_then_mac: tls13 ? fc.constant(undefined) : opt(fc.boolean()),
      server_name: opt(sniInputArb),
      alpn: opt(alpnArb),
      peer_certificate_chain: opt(
        fc.oneof(
          { weight: 5, arbitrary: fc.array(b64Arb(1, 96), { maxLength: 4 }) },
          { weight: 1, arbitrary: fc.array(b64Arb(1, 8), { minLength: 16, maxLength: 16 }) },
        ),
      ),
      max_fragment_length: opt(fc.constantFrom(512, 1024, 2048, 4096)),
      ticket_age_add: upTo12 ? fc.constant(undefined) : opt(fc.integer({ min: 0, max: 0xffffffff })),
      max_early_data: upTo12 ? fc.constant(undefined) : opt(fc.integer({ min: 0, max: 0xffffffff })),
      created_at: opt(fc.integer({ min: 0, max: 2 ** 33 })),
      timeout: opt(fc.integer({ min: 1, max: 604_800 })),
      opaque: opt(
        fc.oneof(
          { weight: 12, arbitrary: b64Arb(1, 128) },
          // The largest opaque; noShrink: shrinking 49152 bytes one by one would take hours.
          { weight: 1, arbitrary: fc.noShrink(bytesArb(49_152, 49_152)).map(encodeBase64url) },
        ),
      ),
    });
  })
  .filter((s) => s.master_secret !== undefined || s.opaque !== undefined)
  .map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as SessionJson);

/** Inputs for sealTicket other than the session and the key. */
export const sealParamsArb = fc.record({
  sessionId: bytesArb(1, 32),
  withLookupId: fc.boolean(),
  singleUse: fc.boolean(),
  issuedAt: fc.integer({ min: 0, max: 2 ** 33 }),
  lifetime: fc.integer({ min: 1, max: 604_800 }),
  context: fc.string({ maxLength: 24 }),
});

/** Unsigned LEB128, written independently of the core's ByteWriter. */
export function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array<ArrayBuffer> {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

/**
 * Decrypts a ticket the way docs/ticket-format.md describes it, with WebCrypto
 * only (none of the core's key or ticket code): HKDF-SHA-256 with an empty
 * salt and info "esr ticket v1" NUL context gives the AES-256-GCM key; the
 * header and the context's UTF-8 bytes are the AAD. Returns the plaintext body.
 */
export async function independentDecrypt(ticket: Uint8Array<ArrayBuffer>, material: Uint8Array<ArrayBuffer>, context: string) {
  const base = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveBits"]);
  const info = concat(new TextEncoder().encode("esr ticket v1"), [0], new TextEncoder().encode(context));
  const raw = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, base, 256);
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
  const lookupLength = ticket[4]!;
  const headerLength = 5 + lookupLength + 12;
  const aad = concat(ticket.subarray(0, headerLength), new TextEncoder().encode(context));
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: ticket.subarray(5 + lookupLength, headerLength), additionalData: aad, tagLength: 128 },
    key,
    ticket.subarray(headerLength),
  );
  return { headerLength, body: new Uint8Array(plain) };
}

/** The plaintext body of a ticket as docs/ticket-format.md lays it out, built by hand. */
export function expectedBody(p: {
  singleUse: boolean;
  withLookupId: boolean;
  issuedAt: number;
  lifetime: number;
  sessionId: Uint8Array;
  sessionBytes: Uint8Array;
}): Uint8Array<ArrayBuffer> {
  const flags = (p.singleUse ? 1 : 0) | (p.withLookupId ? 0 : 2);
  return concat(
    [flags],
    leb128(p.issuedAt),
    leb128(p.lifetime),
    p.withLookupId ? [] : [p.sessionId.length],
    p.withLookupId ? [] : p.sessionId,
    p.sessionBytes,
  );
}

/**
 * Seals any body under a ring key the way docs/ticket-format.md describes it,
 * with WebCrypto only: lets a test hand the opener authenticated bodies the
 * core's own sealer would never write.
 */
export async function independentSeal(p: {
  material: Uint8Array<ArrayBuffer>;
  context: string;
  keyId: number;
  lookupId?: Uint8Array;
  nonce: Uint8Array<ArrayBuffer>;
  body: Uint8Array<ArrayBuffer>;
}): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey("raw", p.material, "HKDF", false, ["deriveBits"]);
  const info = concat(new TextEncoder().encode("esr ticket v1"), [0], new TextEncoder().encode(p.context));
  const raw = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, base, 256);
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt"]);
  const lookup = p.lookupId ?? new Uint8Array(0);
  const header = concat([1, (p.keyId >>> 16) & 255, (p.keyId >>> 8) & 255, p.keyId & 255, lookup.length], lookup, p.nonce);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: p.nonce, additionalData: concat(header, new TextEncoder().encode(p.context)), tagLength: 128 },
    key,
    p.body,
  );
  return concat(header, new Uint8Array(sealed));
}

/**
 * Ring key material at rest and in transit between the ring's Durable Object
 * and the isolates: always wrapped with AES-256-GCM under a key-encryption key
 * derived by HKDF from MASTER_KEY, the key id as AAD (a wrapped key copied to
 * another id does not unwrap). Raw material exists only briefly in memory.
 */
import { deriveAesGcmKey, deriveBytes, encodeHex, HKDF_LABEL, importHkdfKey, KEY_BYTES, type Bytes } from "../core/index.js";

const NONCE_BYTES = 12;

export function deriveKek(masterKey: Bytes): Promise<CryptoKey> {
  return importHkdfKey(masterKey).then((base) => deriveAesGcmKey(base, HKDF_LABEL.keyRingKek, ""));
}

/**
 * A public fingerprint of the key-encryption key (HKDF output under its own
 * label: it reveals nothing of MASTER_KEY). The ring stores it beside its
 * keys, so a changed MASTER_KEY is noticed instead of failing to unwrap.
 */
export async function kekFingerprint(masterKey: Bytes): Promise<string> {
  const bytes = await deriveBytes(await importHkdfKey(masterKey), HKDF_LABEL.keyRingKekCheck, "", 16);
  return encodeHex(bytes);
}

function keyIdAad(id: number): Bytes {
  return new Uint8Array([0x6b, 0x65, 0x79, id >>> 16, (id >>> 8) & 255, id & 255]);
}

/** Generates fresh random key material and returns only its wrapped form. */
export async function generateWrappedKey(kek: CryptoKey, id: number): Promise<Bytes> {
  const material = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  try {
    return await wrapKey(kek, id, material);
  } finally {
    material.fill(0);
  }
}

export async function wrapKey(kek: CryptoKey, id: number, material: Bytes): Promise<Bytes> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: keyIdAad(id) }, kek, material));
  const out = new Uint8Array(NONCE_BYTES + ct.length);
  out.set(nonce);
  out.set(ct, NONCE_BYTES);
  return out;
}

/** The raw material; the caller zeroes it once imported. Throws if MASTER_KEY changed or the blob was tampered with. */
export async function unwrapKey(kek: CryptoKey, id: number, wrapped: Bytes): Promise<Bytes> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: wrapped.subarray(0, NONCE_BYTES), additionalData: keyIdAad(id) },
    kek,
    wrapped.subarray(NONCE_BYTES),
  );
  return new Uint8Array(plain);
}

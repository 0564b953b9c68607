/**
 * aesGcm (src/core/gcm.ts): the one way to the hot path's reused memory.
 * What it lends is filled and handed to WebCrypto in the same turn; a fill
 * that could await in between does not type-check. Runs in workerd and Node.
 */
import { describe, expect, it } from "vitest";
import { aesGcm, NONCE_BYTES, type Scratch } from "../../src/core/gcm.js";

const key = () => crypto.subtle.importKey("raw", new Uint8Array(32).fill(5), "AES-GCM", false, ["encrypt", "decrypt"]);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Encrypts `plain` through the scratch memory: body, a random nonce, AAD = header || context. */
function fillPlain(scratch: Scratch, header: Uint8Array<ArrayBuffer>, plain: Uint8Array, context: string) {
  const body = scratch.body(plain.length);
  body.set(plain);
  return { iv: scratch.randomNonce(), additionalData: scratch.aad(header, header.length, context), data: body.subarray(0, plain.length) };
}

/** WebCrypto's own decryption, with nothing reused. */
const decrypt = async (k: CryptoKey, ct: ArrayBuffer, iv: Uint8Array<ArrayBuffer>, header: Uint8Array, context: string) =>
  [...new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: Uint8Array.of(...header, ...utf8(context)) }, k, ct))];

describe("aesGcm", () => {
  it("encrypts what fill wrote, under fill's nonce and AAD, as plain WebCrypto would, and decrypts it back", async () => {
    const k = await key();
    const header = Uint8Array.of(1, 2, 3);
    let nonce = new Uint8Array(0);
    const ciphertext = await aesGcm(
      "encrypt",
      k,
      (scratch, h: Uint8Array<ArrayBuffer>, plain: Uint8Array, context: string) => {
        const input = fillPlain(scratch, h, plain, context);
        nonce = input.iv.slice();
        expect(input.iv.length).toBe(NONCE_BYTES);
        expect([...input.additionalData]).toEqual([1, 2, 3, ...utf8("ctx")]);
        return input;
      },
      header,
      Uint8Array.of(10, 20, 30, 40),
      "ctx",
    );
    expect(await decrypt(k, ciphertext, nonce, header, "ctx")).toEqual([10, 20, 30, 40]);
    const back = await aesGcm(
      "decrypt",
      k,
      (scratch, h, ct: ArrayBuffer, context: string) => ({ iv: nonce, additionalData: scratch.aad(h, h.length, context), data: new Uint8Array(ct) }),
      header,
      ciphertext,
      "ctx",
    );
    expect([...new Uint8Array(back)]).toEqual([10, 20, 30, 40]);
  });

  it("lends the same memory to the next call at once: each call's input was copied before it returned", async () => {
    const k = await key();
    const header = Uint8Array.of(7);
    // Both calls are in flight together; the second refills the memory the first was given.
    const inputs: { iv: Uint8Array<ArrayBuffer>; data: Uint8Array }[] = [];
    const keep = (scratch: Scratch, h: Uint8Array<ArrayBuffer>, plain: Uint8Array, context: string) => {
      const input = fillPlain(scratch, h, plain, context);
      inputs.push({ iv: input.iv.slice(), data: input.data });
      return input;
    };
    const [one, two] = await Promise.all([
      aesGcm("encrypt", k, keep, header, Uint8Array.of(1, 1, 1), "one"),
      aesGcm("encrypt", k, keep, header, Uint8Array.of(2, 2, 2), "two"),
    ]);
    expect(inputs[0]!.data.buffer).toBe(inputs[1]!.data.buffer);
    expect(await decrypt(k, one, inputs[0]!.iv, header, "one")).toEqual([1, 1, 1]);
    expect(await decrypt(k, two, inputs[1]!.iv, header, "two")).toEqual([2, 2, 2]);
  });

  it("refuses an async fill by its type (checked by `npm run typecheck`)", () => {
    // Never called: the point is the type error. An async fill could await
    // after filling the memory and before the call, and hand over memory
    // another call had refilled by then.
    const misuse = (k: CryptoKey, header: Uint8Array<ArrayBuffer>) =>
      // @ts-expect-error: a fill that returns a promise is `never`.
      aesGcm("encrypt", k, async (scratch: Scratch, h: Uint8Array<ArrayBuffer>) => fillPlain(scratch, h, Uint8Array.of(1), "ctx"), header, 0, 0);
    expect(typeof misuse).toBe("function");
  });
});

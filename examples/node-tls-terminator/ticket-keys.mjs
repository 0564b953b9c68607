// Node's session ticket key, with a fresh ticket on every resumption.
//
// server.setTicketKeys() gives Node one 48-byte key, and Node's own ticket
// callback then tells OpenSSL "decrypted, keep it" for every ticket: OpenSSL
// sends no new ticket after a resumption. A TLS 1.3 client that uses each
// ticket once (Chromium does, as RFC 8446 C.4 recommends) runs out after the
// two tickets of a full handshake: every third connection is a full
// handshake. The secure context's ticket key callback can answer "decrypted,
// renew" (2, as nginx's does for TLS 1.3): OpenSSL then sends a new ticket
// after each resumption (TLS 1.3) or in the resumed handshake (TLS 1.2).
//
// Node documents no JavaScript ticket key callback; its secure context has
// one (enableTicketKeyCallback / onticketkeycallback, which Node's own tests
// of ticket renewal use). Where it is missing, this falls back to
// setTicketKeys and says so: tickets still resume, without renewal.
import { randomBytes } from "node:crypto";

/**
 * Installs ticket handling on a tls.Server. Returns { setKey(key48), renews }.
 * The 48-byte key is the service's node48 layout: name[16] hmac[16] aes[16].
 */
export function installTicketKeys(server) {
  const context = server._sharedCreds?.context;
  if (typeof context?.enableTicketKeyCallback !== "function") {
    return { renews: false, setKey: (key) => server.setTicketKeys(key) };
  }
  // Until the service's key arrives: a key of this process alone (what Node would use).
  let current = split(randomBytes(48));
  context.enableTicketKeyCallback();
  // OpenSSL asks with (key name, IV, encrypt?) and takes
  // [result, hmac key, aes key, key name, IV] (name and IV when encrypting).
  // Result: 1 use it, 2 use it and issue a new ticket, 0 not a key of ours.
  context.onticketkeycallback = (name, _iv, encrypt) => {
    const key = current;
    if (encrypt) return [1, key.hmac, key.aes, key.name, randomBytes(16)];
    return [key.name.equals(name) ? 2 : 0, key.hmac, key.aes];
  };
  return {
    renews: true,
    setKey(key) {
      if (key.length !== 48) throw new Error("a node48 key is 48 bytes");
      current = split(Buffer.from(key));
    },
  };
}

function split(key) {
  return { name: key.subarray(0, 16), hmac: key.subarray(16, 32), aes: key.subarray(32, 48) };
}

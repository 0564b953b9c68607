// Reads the two things a terminator needs from a TLS ClientHello before
// Node's TLS stack sees it (RFC 8446 4.1.2, RFC 6066 3):
//
// - the SNI host name exactly as the client sent it, so that a new session
//   can be stored with it from the newSession event (the DER session Node
//   hands over carries no host name, and the event names no connection);
// - whether the client offers TLS 1.3 (supported_versions, RFC 8446 4.2.1):
//   a server that also speaks TLS 1.3 will negotiate it, where a TLS 1.2
//   session id can never resume, so looking it up in the store is a round
//   trip for nothing (TLS 1.3 clients send a random legacy session id).
//
// The bytes are read from the socket before Node's TLS server gets it, then
// put back (socket.unshift): Node's TLSSocket receives what a socket has
// buffered.

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_SUPPORTED_VERSIONS = 43;
const TLS1_3 = 0x0304;
/** A ClientHello larger than this is left to Node (post-quantum key shares are about 1.2 KB). */
export const MAX_CLIENT_HELLO_BYTES = 32 * 1024;

/**
 * What `bytes` (the start of a connection) says, or `{ complete: false }`
 * when more bytes are needed. Anything that is not a well-formed ClientHello
 * is `{ complete: true }` with no fields: Node's TLS stack judges it.
 */
export function readClientHello(bytes) {
  const handshake = [];
  let collected = 0;
  for (let at = 0; ; ) {
    if (bytes.length < at + 5) return { complete: false };
    if (bytes[at] !== HANDSHAKE) return { complete: true };
    const length = bytes.readUInt16BE(at + 3);
    if (bytes.length < at + 5 + length) return { complete: false };
    handshake.push(bytes.subarray(at + 5, at + 5 + length));
    collected += length;
    at += 5 + length;
    // The ClientHello may span records: the message header says how long it is.
    if (collected >= 4) {
      const message = Buffer.concat(handshake);
      if (message[0] !== CLIENT_HELLO) return { complete: true };
      const bodyLength = message.readUIntBE(1, 3);
      if (bodyLength > MAX_CLIENT_HELLO_BYTES) return { complete: true };
      if (message.length >= 4 + bodyLength) return { complete: true, ...parseBody(message.subarray(4, 4 + bodyLength)) };
    }
    if (at > MAX_CLIENT_HELLO_BYTES) return { complete: true };
  }
}

function parseBody(body) {
  try {
    let at = 2 + 32; // legacy_version, random
    at += 1 + body[at]; // legacy_session_id
    at += 2 + body.readUInt16BE(at); // cipher_suites
    at += 1 + body[at]; // legacy_compression_methods
    const out = { offersTls13: false, serverName: undefined };
    if (at + 2 > body.length) return out; // no extensions
    const end = Math.min(body.length, at + 2 + body.readUInt16BE(at));
    for (at += 2; at + 4 <= end; ) {
      const type = body.readUInt16BE(at);
      const length = body.readUInt16BE(at + 2);
      const data = body.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      if (type === EXT_SUPPORTED_VERSIONS) {
        const listEnd = Math.min(data.length, 1 + data[0]);
        for (let i = 1; i + 2 <= listEnd; i += 2) if (data.readUInt16BE(i) === TLS1_3) out.offersTls13 = true;
      } else if (type === EXT_SERVER_NAME && data.length >= 5 && data[2] === 0) {
        // server_name_list: the first entry, name_type host_name (0).
        const nameLength = data.readUInt16BE(3);
        if (5 + nameLength <= data.length) out.serverName = data.subarray(5, 5 + nameLength).toString("latin1");
      }
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * Reads a connection's ClientHello (at most `timeoutMs`), puts the bytes
 * back and calls `handOver(socket, hello)`. A socket that sends no
 * ClientHello in time is closed.
 */
export function peekClientHello(socket, handOver, timeoutMs = 10_000) {
  let buffered = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const done = (hello) => {
    clearTimeout(timer);
    socket.removeListener("readable", onReadable);
    socket.removeListener("error", onError);
    socket.removeListener("end", onEnd);
    socket.unshift(buffered);
    handOver(socket, hello);
  };
  const onReadable = () => {
    for (let chunk; (chunk = socket.read()) !== null; ) buffered = Buffer.concat([buffered, chunk]);
    const hello = readClientHello(buffered);
    if (hello.complete) done(hello);
  };
  const onError = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  // The client gave up before a whole ClientHello.
  const onEnd = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("readable", onReadable);
  socket.on("error", onError);
  socket.on("end", onEnd);
}

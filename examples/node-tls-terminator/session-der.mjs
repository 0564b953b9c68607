// Reads the few fields a terminator needs from OpenSSL's DER session
// (i2d_SSL_SESSION, what Node's newSession and getSession() give): the
// protocol version, the session id and the SNI host name. See OpenSSL's
// ssl/ssl_asn1.c for the layout:
//
//   SEQUENCE { version INTEGER, ssl_version INTEGER, cipher OCTET STRING,
//              session_id OCTET STRING, master_key OCTET STRING, ...
//              [6] EXPLICIT tlsext_hostname OCTET STRING OPTIONAL, ... }

/** One DER element at `offset`: its tag and the bounds of its contents. */
function element(der, offset) {
  if (offset + 2 > der.length) throw new Error("truncated DER");
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error("bad DER length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
    start += n;
  }
  const end = start + length;
  if (end > der.length) throw new Error("truncated DER");
  return { tag, start, end };
}

function integer(der, el) {
  let v = 0;
  for (let i = el.start; i < el.end; i++) v = v * 256 + der[i];
  return v;
}

export const TLS1_2_VERSION = 0x0303;
export const TLS1_3_VERSION = 0x0304;

/**
 * { version, sessionId, serverName } of a DER session, or undefined if it
 * cannot be read. version is the protocol (0x0303 TLS 1.2, 0x0304 TLS 1.3).
 */
export function describeSession(der) {
  try {
    const outer = element(der, 0);
    if (outer.tag !== 0x30) return undefined;
    const fields = [];
    for (let at = outer.start; at < outer.end; ) {
      const el = element(der, at);
      fields.push(el);
      at = el.end;
    }
    const [, sslVersion, , sessionId] = fields;
    if (!sslVersion || sslVersion.tag !== 0x02 || !sessionId || sessionId.tag !== 0x04) return undefined;
    let serverName;
    const hostname = fields.find((f) => f.tag === 0xa6);
    if (hostname) {
      const inner = element(der, hostname.start);
      if (inner.tag === 0x04) serverName = der.subarray(inner.start, inner.end).toString("latin1");
    }
    return {
      version: integer(der, sslVersion),
      sessionId: der.subarray(sessionId.start, sessionId.end),
      serverName,
    };
  } catch {
    return undefined;
  }
}

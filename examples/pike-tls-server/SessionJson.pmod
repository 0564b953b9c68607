#pike 8.0
//! Pike 8.0's SSL.Session as the service's session JSON, and back
//! (README.md maps every field). What the JSON models travels in its own
//! fields; what Pike's reusable_as() compares and the JSON does not model
//! travels in `opaque` (a small JSON document of its own); what cannot
//! travel is rebuilt from this server's SSL.Context or derived again.

import SSL.Constants;

protected constant VERSIONS = ([ PROTOCOL_TLS_1_0: "TLSv1", PROTOCOL_TLS_1_1: "TLSv1.1", PROTOCOL_TLS_1_2: "TLSv1.2" ]);
protected constant FRAGMENT_LENGTHS = (< 512, 1024, 2048, 4096 >);
//! The version of the `opaque` document below.
protected constant OPAQUE_VERSION = 1;

string b64url(string(8bit) bytes) { return MIME.encode_base64url(bytes); }

//! Throws on anything but base64url without padding.
string(8bit) unb64url(mixed text)
{
  if (!stringp(text)) error("not a string\n");
  foreach (text; ; int c)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      error("not base64url\n");
  return MIME.decode_base64url(text);
}

//! ASCII lowercase only: RFC 5890 2.3.2.4 compares host names ASCII
//! case-insensitively (lower_case() would also fold Latin-1 letters).
string ascii_lower(string s)
{
  return replace(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ" / "", "abcdefghijklmnopqrstuvwxyz" / "");
}

//! A DNS host name as SNI may carry it (RFC 6066 3: LDH labels, no IP
//! literal, no trailing dot), in any case: the service takes only these.
int(0..1) is_host_name(string name)
{
  if (!stringp(name) || !sizeof(name) || sizeof(name) > 253) return 0;
  int letters;
  foreach (name / ".", string label) {
    if (!sizeof(label) || sizeof(label) > 63 || label[0] == '-' || label[-1] == '-') return 0;
    foreach (label; ; int c) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letters = 1;
      else if (c == '-') letters = 1;
      else if (c < '0' || c > '9') return 0;
    }
  }
  return letters;
}

//! RFC 6066 3 ("DNS hostnames are case-insensitive. The algorithm to
//! compare hostnames is described in RFC 5890, Section 2.3.2.4."): ASCII
//! case-insensitive; no name matches only no name.
int(0..1) same_server_name(string a, string b)
{
  if (!a || !b) return !a && !b;
  return ascii_lower(a) == ascii_lower(b);
}

//! A session as the service returns it: Pike's own comparison of a resumed
//! session with the new handshake (reusable_as), but with the SNI compared
//! as RFC 6066 says, since the service keeps host names lowercase while Pike
//! keeps the client's bytes and compares them exactly.
class Session
{
  inherit SSL.Session;

  int(0..1) reusable_as(SSL.Session other)
  {
    if (!same_server_name(server_name, other->server_name)) return 0;
    string(8bit) stored = server_name;
    // The rest of Pike's comparison, with the name as the client sends it now.
    server_name = other->server_name;
    if (::reusable_as(other)) return 1;
    server_name = stored;
    return 0;
  }
}

protected string sha256_hex(string(8bit) der) { return String.string2hex(Crypto.SHA256.hash(der)); }

//! The session JSON of a Pike session, or 0 when the service cannot hold it
//! (SSL 3.0, no master secret).
mapping to_json(SSL.Session s)
{
  string version = VERSIONS[s->version];
  if (!version || !stringp(s->master_secret) || sizeof(s->master_secret) != 48) return 0;
  if (!s->certificate_chain || !sizeof(s->certificate_chain)) return 0;
  mapping json = ([
    "version": version,
    "cipher_suite": s->cipher_suite,
    "master_secret": b64url(s->master_secret),
    // Pike 8.0 has no RFC 7627 extended master secret.
    "extended_master_secret": Val.false,
    "encrypt_then_mac": s->encrypt_then_mac ? Val.true : Val.false,
  ]);
  // A name the service refuses (an IP literal, a trailing dot, an
  // underscore) stays out: such a session resumes nowhere, as Pike compares
  // it with the client's next SNI.
  if (s->server_name && is_host_name(s->server_name)) json->server_name = s->server_name;
  if (FRAGMENT_LENGTHS[s->max_packet_size]) json->max_fragment_length = s->max_packet_size;
  if (s->peer_certificate_chain && sizeof(s->peer_certificate_chain)) json->peer_certificate_chain = map(s->peer_certificate_chain, b64url);
  json->opaque = b64url(Standards.JSON.encode(([
    "pike": OPAQUE_VERSION,
    "compression_algorithm": s->compression_algorithm,
    "truncated_hmac": s->truncated_hmac,
    "ecc_point_format": s->ecc_point_format,
    "ecc_curves": s->ecc_curves || ({}),
    "signature_algorithms": s->signature_algorithms || ({}),
    "heartbeat_mode": s->heartbeat_mode,
    // Which of this server's certificates: the chain itself is the context's.
    "certificate": sha256_hex(s->certificate_chain[0]),
  ])));
  return json;
}

protected int(0..1) is_int_array(mixed a) { return arrayp(a) && !sizeof(filter(a, lambda(mixed x) { return !intp(x); })); }

//! A Pike session from the service's session JSON, its server certificate
//! and key taken from @[context], or 0 when it cannot be resumed here (not a
//! session this program made, a certificate this server no longer has, a
//! cipher suite Pike does not know).
Session from_json(mapping json, SSL.Context context)
{
  Session s;
  // A malformed field is a session that cannot be resumed, never an error in the handshake.
  if (catch { s = decode(json, context); }) return 0;
  return s;
}

protected Session decode(mapping json, SSL.Context context)
{
  int version = search(VERSIONS, json->version);
  if (!version || !intp(json->cipher_suite) || !stringp(json->master_secret) || !stringp(json->opaque)) return 0;
  mapping extra = Standards.JSON.decode(unb64url(json->opaque));
  if (!mappingp(extra) || extra->pike != OPAQUE_VERSION) return 0;
  if (!is_int_array(extra->ecc_curves) || !arrayp(extra->signature_algorithms)) return 0;
  foreach (extra->signature_algorithms, mixed pair) if (!is_int_array(pair) || sizeof(pair) != 2) return 0;

  CertificatePair cert;
  foreach (context->get_certificates(), CertificatePair cp)
    if (sha256_hex(cp->certs[0]) == extra->certificate) cert = cp;
  if (!cert) return 0;

  Session s = Session();
  s->master_secret = unb64url(json->master_secret);
  if (sizeof(s->master_secret) != 48) return 0;
  s->encrypt_then_mac = json->encrypt_then_mac == Val.true;
  s->server_name = stringp(json->server_name) ? json->server_name : 0;
  s->max_packet_size = FRAGMENT_LENGTHS[json->max_fragment_length] ? json->max_fragment_length : PACKET_MAX_SIZE;
  if (arrayp(json->peer_certificate_chain) && sizeof(json->peer_certificate_chain)) {
    s->peer_certificate_chain = map(json->peer_certificate_chain, unb64url);
    Standards.X509.TBSCertificate peer = Standards.X509.decode_certificate(s->peer_certificate_chain[0]);
    if (peer) s->peer_public_key = peer->public_key->pkc;
  }
  s->compression_algorithm = (int)extra->compression_algorithm;
  s->truncated_hmac = extra->truncated_hmac ? 1 : 0;
  s->ecc_point_format = (int)extra->ecc_point_format;
  s->ecc_curves = extra->ecc_curves;
  s->signature_algorithms = extra->signature_algorithms;
  s->heartbeat_mode = (int)extra->heartbeat_mode;
  // The very array of the context's certificate pair: reusable_as compares it by identity.
  s->certificate_chain = cert->certs;
  s->private_key = cert->key;
#if constant(Crypto.ECC.Curve)
  if (cert->key->get_curve) s->curve = cert->key->get_curve();
#endif
  // cipher_spec is derived, as Session.select_cipher_suite() derives it.
  int max_hash_size = cert->key->block_size ? cert->key->block_size() - 23 : 512;
  if (!s->set_cipher_suite(json->cipher_suite, version, s->signature_algorithms, max_hash_size)) return 0;
  return s;
}

#pike 8.0
//! HTTP/1.1 calls to the edge session-resumption service, each bounded by a
//! deadline, for code that must answer synchronously (SSL.Context's hooks).
//!
//! Protocols.HTTP has no deadline of its own and Stdio.File's connect none
//! either, so every call runs its socket on a private Pike.Backend, driven
//! here until the answer is complete or the deadline has passed: a slow
//! service costs at most the deadline, an absent one (connection refused)
//! nothing. One keep-alive connection is reused from call to call (the hooks
//! run one at a time); https:// service URLs speak TLS with the system's CA
//! certificates and check the host name.
//!
//! After a call times out or cannot connect, calls fail at once for a
//! backoff (1 s, doubling to 30 s) and then one call probes again: a dead
//! service must not add a deadline to every handshake.
//!
//!   ServiceClient c = ServiceClient("https://resumption.example.com", token, 0.1);
//!   mapping r = c->call("POST", "/v1/tickets/open", (["ticket": t]));
//!   if (r->ok) werror("%O\n", r->body->session); else werror("%s\n", r->code);

protected Standards.URI base;
protected string host_header;
protected string authorization;
protected string user_agent;
protected float default_timeout;

protected Pike.Backend backend = Pike.Backend();
//! The kept-alive connection (a Stdio.File, or an SSL.File over one), or 0.
protected object con;
protected SSL.Context tls_context;
//! The TLS connection's certificate was checked against the host name.
protected int(0..1) tls_verified;
protected array(string) addresses;

protected int failures;
protected int backoff_until_us;

//! Per call: what is left to write, what was read, and the outcome.
protected string outbuf = "";
protected string inbuf = "";
protected int done;
protected mapping result;
protected int response_started;

//! @param ca_pem
//!   PEM certificates to trust for an https:// service instead of the
//!   system's CA certificates (a private CA).
protected void create(string url, string token, float timeout, void|string agent, void|string ca_pem)
{
  base = Standards.URI(url);
  if (!(< "http", "https" >)[base->scheme]) error("service URL must be http:// or https://\n");
  host_header = base->host + ((base->scheme == "https" ? base->port == 443 : base->port == 80) ? "" : ":" + base->port);
  authorization = "Bearer " + token;
  user_agent = agent || "esr-pike-tls-server";
  default_timeout = timeout;
  if (base->scheme == "https") {
    tls_context = SSL.Context();
    tls_context->verify_certificates = 1;
    tls_context->require_trust = 1;
    if (ca_pem) {
      array(string) roots = (Standards.PEM.Messages(ca_pem)->parts["CERTIFICATE"] || ({}))->body;
      if (!sizeof(roots)) error("no CA certificate in the given PEM\n");
      tls_context->set_trusted_issuers(map(roots, lambda(string der) { return ({ der }); }));
    } else {
      tls_context->trusted_issuers_cache = Standards.X509.load_authorities();
    }
  }
  resolve();
}

//! The service's addresses. A host name is resolved here, before any hook
//! runs (gethostbyname blocks), and again off the handshake path.
protected void resolve()
{
  if (sscanf(base->host, "%*d.%*d.%*d.%*d%*c") == 4 || has_value(base->host, ":")) {
    addresses = ({ base->host });
    return;
  }
  array(string) found = (gethostbyname(base->host) || ({ 0, ({}) }))[1];
  if (sizeof(found)) addresses = found;
  else if (!addresses) addresses = ({});
}

//! Resolves the host again every @[seconds], in a thread of its own.
void refresh_addresses_every(int seconds)
{
  if (sizeof(addresses) == 1 && addresses[0] == base->host) return;
  Thread.Thread(lambda() { while (1) { sleep(seconds); resolve(); } });
}

//! One call. @[body] is sent as JSON. Returns
//! @mapping
//!   @member int(0..1) "ok"
//!     1 for a 2xx answer
//!   @member int "status"
//!     the HTTP status (0 when there was no answer)
//!   @member mapping|int "body"
//!     the decoded JSON answer, if any
//!   @member string "code"
//!     on failure: the service's error code, or "timeout", "unreachable",
//!     "backoff", "bad_response"
//! @endmapping
mapping call(string method, string path, void|mapping body, void|float timeout)
{
  int now = gethrtime();
  if (now < backoff_until_us) return ([ "ok": 0, "status": 0, "code": "backoff" ]);
  int deadline = now + (int)((timeout || default_timeout) * 1000000);
  string payload = body ? Standards.JSON.encode(body) : 0;
  string request = method + " " + base->path[..<(has_suffix(base->path, "/") ? 1 : 0)] + path + " HTTP/1.1\r\n"
    "Host: " + host_header + "\r\n"
    "Authorization: " + authorization + "\r\n"
    "User-Agent: " + user_agent + "\r\n"
    "Accept: application/json\r\n" +
    (payload ? "Content-Type: application/json\r\nContent-Length: " + sizeof(payload) + "\r\n" : "") +
    "\r\n" + (payload || "");

  // A kept-alive connection the service has closed meanwhile fails before
  // any byte of an answer: then once more on a new connection.
  int reused = !!con;
  mapping r = exchange(request, deadline);
  if (!r->ok && r->code == "unreachable" && reused && !response_started && gethrtime() < deadline) {
    r = exchange(request, deadline);
  }
  if (r->code == "timeout" || r->code == "unreachable") {
    failures++;
    backoff_until_us = gethrtime() + min(1000000 << min(failures - 1, 5), 30000000);
  } else {
    failures = 0;
  }
  return r;
}

//! Sends one request and reads its answer on the private backend, until the deadline.
protected mapping exchange(string request, int deadline)
{
  outbuf = request;
  inbuf = "";
  done = 0;
  result = 0;
  response_started = 0;
  if (!con && !open_connection()) return ([ "ok": 0, "status": 0, "code": "unreachable" ]);
  con->set_nonblocking(got_data, can_write, got_close);
  while (!done) {
    int left = deadline - gethrtime();
    if (left <= 0) {
      // The answer may still come: this connection cannot be reused.
      drop();
      return ([ "ok": 0, "status": 0, "code": "timeout" ]);
    }
    backend(left / 1000000.0);
  }
  return result;
}

protected int open_connection()
{
  if (!sizeof(addresses)) return 0;
  Stdio.File socket = Stdio.File();
  if (!socket->open_socket(-1, 0, addresses[0])) return 0;
  socket->set_backend(backend);
  // Non-blocking: connect() returns at once and the write callback says when it is done.
  socket->set_nonblocking(0, 0, 0);
  if (!socket->connect(addresses[0], base->port)) return 0;
  if (tls_context) {
    tls_verified = 0;
    SSL.File tls = SSL.File(socket, tls_context);
    tls->set_backend(backend);
    tls->set_nonblocking(0, 0, 0);
    tls->connect(base->host);
    con = tls;
  } else {
    con = socket;
  }
  return 1;
}

protected void drop()
{
  if (con) {
    con->set_nonblocking(0, 0, 0);
    catch { con->close(); };
  }
  con = 0;
}

protected void finish(mapping r)
{
  done = 1;
  result = r;
}

protected void can_write()
{
  if (!sizeof(outbuf)) return;
  if (tls_context && !tls_verified) {
    // SSL.File calls back while still handshaking: wait for the next call.
    if (con->query_connection()->state & SSL.Constants.CONNECTION_handshaking) return;
    if (!host_verified()) {
      drop();
      finish(([ "ok": 0, "status": 0, "code": "unreachable", "message": "the service's certificate does not name " + base->host ]));
      return;
    }
    tls_verified = 1;
  }
  int n = con->write(outbuf);
  if (n < 0) {
    drop();
    finish(([ "ok": 0, "status": 0, "code": "unreachable" ]));
    return;
  }
  // SSL.File takes nothing while it is still handshaking: the next callback writes.
  outbuf = outbuf[n..];
}

//! The TLS peer's leaf certificate names the service's host (the chain is
//! checked by SSL.Context's require_trust).
protected int(0..1) host_verified()
{
  array(string) certs = con->get_peer_certificates();
  if (!certs || !sizeof(certs)) return 0;
  Standards.X509.TBSCertificate leaf = Standards.X509.decode_certificate(certs[0]);
  if (!leaf) return 0;
  array(string) names = leaf->ext_subjectAltName_dNSName || ({});
  string host = lower_case(base->host);
  foreach (names, string name) {
    name = lower_case(name);
    if (name == host) return 1;
    // One wildcard label, leftmost only (RFC 6125 6.4.3).
    if (has_prefix(name, "*.") && sizeof(host / ".") == sizeof(name / ".") && has_suffix(host, name[1..])) return 1;
  }
  return 0;
}

protected void got_data(mixed id, string data)
{
  response_started = 1;
  inbuf += data;
  mapping r = parse_response();
  if (r) finish(r);
}

protected void got_close()
{
  mapping r = sizeof(inbuf) && parse_response(1);
  drop();
  finish(r || ([ "ok": 0, "status": 0, "code": response_started ? "bad_response" : "unreachable" ]));
}

//! The complete answer in inbuf, or 0 while it is not complete yet. @[eof]:
//! the service closed the connection (the body then ends there).
protected mapping parse_response(void|int eof)
{
  int end = search(inbuf, "\r\n\r\n");
  if (end < 0) return eof && ([ "ok": 0, "status": 0, "code": "bad_response" ]);
  array(string) lines = inbuf[..end - 1] / "\r\n";
  int status;
  if (sscanf(lines[0], "HTTP/1.%*d %d", status) != 2) return ([ "ok": 0, "status": 0, "code": "bad_response" ]);
  mapping(string:string) headers = ([]);
  foreach (lines[1..], string line) {
    sscanf(line, "%s:%*[ ]%s", string name, string value);
    if (name) headers[lower_case(name)] = value;
  }
  string rest = inbuf[end + 4..];
  string body;
  if (headers["transfer-encoding"] && has_value(lower_case(headers["transfer-encoding"]), "chunked")) {
    body = "";
    while (1) {
      int at = search(rest, "\r\n");
      if (at < 0) return 0;
      int size;
      if (sscanf(rest[..at - 1], "%x", size) != 1) return ([ "ok": 0, "status": status, "code": "bad_response" ]);
      if (!size) break;
      if (sizeof(rest) < at + 2 + size + 2) return 0;
      body += rest[at + 2..at + 1 + size];
      rest = rest[at + 2 + size + 2..];
    }
  } else if (headers["content-length"]) {
    int length = (int)headers["content-length"];
    if (sizeof(rest) < length) return eof && ([ "ok": 0, "status": status, "code": "bad_response" ]);
    body = rest[..length - 1];
  } else if (eof) {
    body = rest;
  } else {
    return 0;
  }
  if (lower_case(headers["connection"] || "") == "close") drop();
  mixed json;
  if (sizeof(body)) catch { json = Standards.JSON.decode_utf8(body); };
  int ok = status >= 200 && status < 300;
  string code = !ok && mappingp(json) && mappingp(json->error) && stringp(json->error->code) ? json->error->code : 0;
  return ([ "ok": ok, "status": status, "body": mappingp(json) ? json : 0, "code": ok ? 0 : code || "http_" + status ]);
}

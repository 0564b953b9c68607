#!/usr/bin/env pike
#pike 8.0
//! A TLS server on Pike 8.0's SSL module whose sessions resume on every
//! server of a fleet: its TLS 1.2 session tickets are sealed and opened by
//! the edge session-resumption service, and its session-id cache is the
//! service's session store (EsrContext.pike). Each request gets a one-line
//! answer ("<name> TLSv1.2 reused=true") and the connection is closed.
//!
//!   ESR_TOKEN=<token with the tickets and sessions scopes> pike examples/pike-tls-server/server.pike \
//!     --service http://127.0.0.1:8787 --cert cert.pem --key key.pem --port 8443 --name a
//!
//! Logs are JSON lines on stdout (README.md lists them).

constant USAGE = "usage: ESR_TOKEN=<token with the tickets and sessions scopes> server.pike --cert cert.pem --key key.pem\n"
  "  [--service URL] [--host 127.0.0.1] [--port 8443] [--name pike] [--timeout 100] [--ticket-lifetime SECONDS]\n"
  "  [--no-tickets] [--no-store] [--service-ca ca.pem]\n";

string name = "pike";

//! One JSON line: t, name and event first, then the fields in name order.
void log(string event, void|mapping fields)
{
  array(int) now = System.gettimeofday();
  array(string) members = ({ "\"t\":" + (now[0] * 1000 + now[1] / 1000), "\"name\":" + Standards.JSON.encode(name), "\"event\":" + Standards.JSON.encode(event) });
  foreach (sort(indices(fields || ([]))), string key) members += ({ Standards.JSON.encode(key) + ":" + Standards.JSON.encode(fields[key]) });
  write("{%s}\n", members * ",");
}

//! The first private key in a PEM file: PKCS#8, SEC 1 (EC) or PKCS#1 (RSA).
Crypto.Sign.State read_key(string pem)
{
  Standards.PEM.Messages messages = Standards.PEM.Messages(pem);
  mapping(string:array) parts = messages->parts;
  if (parts["PRIVATE KEY"]) return Standards.PKCS.parse_private_key(parts["PRIVATE KEY"][0]->body);
  if (parts["EC PRIVATE KEY"]) return Standards.PKCS.ECDSA.parse_private_key(parts["EC PRIVATE KEY"][0]->body);
  if (parts["RSA PRIVATE KEY"]) return Standards.PKCS.RSA.parse_private_key(parts["RSA PRIVATE KEY"][0]->body);
  return 0;
}

array(string(8bit)) read_chain(string pem)
{
  array parts = Standards.PEM.Messages(pem)->parts["CERTIFICATE"] || ({});
  return parts->body;
}

int main(int argc, array(string) argv)
{
  mapping(string:string|int) opt = ([ "service": getenv("ESR_URL") || "http://127.0.0.1:8787", "host": "127.0.0.1", "port": "8443", "timeout": "100" ]);
  foreach (Getopt.find_all_options(argv, ({
    ({ "service", Getopt.HAS_ARG, "--service" }), ({ "cert", Getopt.HAS_ARG, "--cert" }), ({ "key", Getopt.HAS_ARG, "--key" }),
    ({ "host", Getopt.HAS_ARG, "--host" }), ({ "port", Getopt.HAS_ARG, "--port" }), ({ "name", Getopt.HAS_ARG, "--name" }),
    ({ "timeout", Getopt.HAS_ARG, "--timeout" }), ({ "ticket-lifetime", Getopt.HAS_ARG, "--ticket-lifetime" }),
    ({ "no-tickets", Getopt.NO_ARG, "--no-tickets" }), ({ "no-store", Getopt.NO_ARG, "--no-store" }),
    ({ "service-ca", Getopt.HAS_ARG, "--service-ca" }),
  })), array option) opt[option[0]] = option[1];
  string token = getenv("ESR_TOKEN");
  if (!token || !opt->cert || !opt->key) {
    werror(USAGE);
    return 2;
  }
  if (opt->name) name = opt->name;

  Crypto.Sign.State key = read_key(Stdio.read_file(opt->key) || "");
  array(string(8bit)) chain = read_chain(Stdio.read_file(opt->cert) || "");
  if (!key || !sizeof(chain)) {
    werror("cannot read a private key from %s and certificates from %s\n", opt->key, opt->cert);
    return 2;
  }

  string ca = opt["service-ca"] && Stdio.read_file(opt["service-ca"]);
  if (opt["service-ca"] && !ca) {
    werror("cannot read %s\n", opt["service-ca"]);
    return 2;
  }
  .ServiceClient service = .ServiceClient(opt->service, token, (int)opt->timeout / 1000.0, "esr-pike-tls-server/" + name, ca);
  service->refresh_addresses_every(60);
  .EsrContext ctx = .EsrContext(service, ([
    "tickets": !opt["no-tickets"],
    "store": !opt["no-store"],
    "ticket_lifetime": opt["ticket-lifetime"] && (int)opt["ticket-lifetime"],
  ]), log);
  // "*": this certificate answers every SNI. Pike matches names
  // case-sensitively and has no default otherwise, so a client sending
  // "Resume.Test" would get a handshake failure.
  ctx->add_cert(key, chain, ({ "*" }));

  SSL.Port port = SSL.Port(ctx);
  if (!port->bind((int)opt->port, lambda() { accept_all(port); }, opt->host)) {
    werror("cannot listen on %s:%s: %s\n", opt->host, opt->port, strerror(port->errno()));
    return 1;
  }
  int bound = (int)((port->query_address() || "0 0") / " ")[-1];
  log("listening", ([ "host": opt->host, "port": bound, "tickets": !opt["no-tickets"] ? Val.true : Val.false, "store": !opt["no-store"] ? Val.true : Val.false ]));
  signal(signum("SIGTERM"), lambda() { exit(0); });
  signal(signum("SIGINT"), lambda() { exit(0); });
  return -1;
}

//! SSL.Port queues each negotiated connection and calls back until the queue is empty: take them all.
void accept_all(SSL.Port port)
{
  while (SSL.File conn = port->accept()) serve(conn);
}

void serve(SSL.File conn)
{
  SSL.Connection state = conn->query_connection();
  int reused = state->reuse;
  string protocol = ([ 0x301: "TLSv1", 0x302: "TLSv1.1", 0x303: "TLSv1.2" ])[conn->query_version()] || "?";
  log("connection", ([ "protocol": protocol, "reused": reused ? Val.true : Val.false, "server_name": state->session->server_name || Val.null ]));
  // Idle connections do not stay: 30 s for the request.
  mixed idle = call_out(conn->close, 30);
  conn->set_nonblocking(lambda(mixed id, string data) {
      remove_call_out(idle);
      string body = sprintf("%s %s reused=%s\n", name, protocol, reused ? "true" : "false");
      conn->write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s", sizeof(body), body);
      conn->close();
    }, 0, lambda() { remove_call_out(idle); conn->close(); });
}

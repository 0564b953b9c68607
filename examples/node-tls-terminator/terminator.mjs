#!/usr/bin/env node
// A small TLS terminator on node:tls that resumes sessions across every
// terminator of a fleet through the edge session-resumption service:
//
// - TLS 1.2 session ids: newSession stores the session (PUT /v1/sessions/{id},
//   the DER as `opaque`, with the SNI) before it lets Node finish the
//   handshake, so a client never holds a session that another terminator
//   cannot find; resumeSession fetches it (GET), unless the client offers
//   TLS 1.3, which this terminator then negotiates and where no session id
//   resumes; a connection that ends uncleanly deletes it (DELETE), as
//   OpenSSL's own cache would. Each call on the handshake path waits at most
//   --timeout ms (default 100): a slow service costs a full handshake, never
//   a hung connection.
// - TLS 1.3 (and 1.2) tickets: the ticket key comes from
//   GET /v1/keys/export?format=node48 and is polled (refresh_after), so every
//   terminator holds the same key and a rotation reaches them without a
//   restart; every resumption hands out a fresh ticket (ticket-keys.mjs).
//
// The SNI and the offered versions come from the ClientHello, read before
// Node's TLS server gets the connection (client-hello.mjs), and follow the
// connection into Node's session events (AsyncLocalStorage).
//
// Usage (README.md):
//   npm run build:client
//   ESR_TOKEN=... node examples/node-tls-terminator/terminator.mjs \
//     --service http://127.0.0.1:8787 --cert cert.pem --key key.pem --port 8443 --name a
//
// Logs are JSON lines on stdout.
import { AsyncLocalStorage } from "node:async_hooks";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { ResumptionClient } from "edge-session-resumption/client";
import { peekClientHello } from "./client-hello.mjs";
import { describeSession, TLS1_3_VERSION } from "./session-der.mjs";
import { installTicketKeys } from "./ticket-keys.mjs";

const { values: opt } = parseArgs({
  options: {
    service: { type: "string", default: process.env.ESR_URL ?? "http://127.0.0.1:8787" },
    cert: { type: "string" },
    key: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8443" },
    name: { type: "string", default: "terminator" },
    // Node derives the session id context from process.argv unless it is set:
    // every terminator of the fleet must share one, or none resumes another's sessions.
    "session-id-context": { type: "string", default: "esr-terminator" },
    timeout: { type: "string", default: "100" },
    "session-timeout": { type: "string" },
    upstream: { type: "string" },
    "no-store": { type: "boolean", default: false },
    "no-ticket-keys": { type: "boolean", default: false },
    "max-version": { type: "string", default: "TLSv1.3" },
  },
});

const token = process.env.ESR_TOKEN;
if (!token || !opt.cert || !opt.key) {
  console.error("usage: ESR_TOKEN=<token with the sessions and stek scopes> terminator.mjs --cert cert.pem --key key.pem [--service URL] [--port 8443] [--name a]");
  process.exit(2);
}

const log = (event, fields = {}) => console.log(JSON.stringify({ t: Date.now(), name: opt.name, event, ...fields }));
const useStore = !opt["no-store"];
const useTicketKeys = !opt["no-ticket-keys"];
const sessionTimeout = opt["session-timeout"] === undefined ? undefined : Number(opt["session-timeout"]);
const client = new ResumptionClient({ baseUrl: opt.service, token, timeout: Number(opt.timeout), headers: { "user-agent": `esr-node-terminator/${opt.name}` } });

if (opt["max-version"] !== "TLSv1.3" && opt["max-version"] !== "TLSv1.2") {
  console.error("--max-version: TLSv1.3 or TLSv1.2");
  process.exit(2);
}
const speaksTls13 = opt["max-version"] === "TLSv1.3";

const server = tls.createServer({
  cert: readFileSync(opt.cert),
  key: readFileSync(opt.key),
  minVersion: "TLSv1.2",
  maxVersion: opt["max-version"],
  sessionIdContext: opt["session-id-context"],
});

/** Each connection's ClientHello ({ serverName, offersTls13 }), in Node's session events for that connection. */
const clientHello = new AsyncLocalStorage();

// The store (TLS 1.2 session ids)

/** SNI as the service takes it: a DNS host name (an IP literal is not one). */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const isHostName = (name) => HOST_NAME.test(name) && !/^[0-9.]+$/.test(name);

if (useStore) {
  // OpenSSL's new-session callback. Node holds back the server's Finished
  // until done() is called, so the session is stored first: by the time the
  // client holds it, every terminator can resume it, even on a reconnect
  // the same millisecond. The SNI comes from the ClientHello (the DER has
  // none: Node does not acknowledge SNI to OpenSSL).
  server.on("newSession", (id, der, done) => {
    const info = describeSession(der);
    // TLS 1.3 sessions resume by ticket (the shared node48 key); Node never
    // looks them up by id, so storing them would only cost writes.
    if (!info || info.version >= TLS1_3_VERSION) return done();
    void storeSession(id, der, clientHello.getStore()?.serverName).finally(done);
  });

  // OpenSSL's get-session callback, which Node calls for every ClientHello
  // with a session id. A client offering TLS 1.3 to this terminator will
  // negotiate TLS 1.3, where a session id never resumes (its legacy session
  // id is random): no lookup.
  server.on("resumeSession", async (id, done) => {
    if (speaksTls13 && clientHello.getStore()?.offersTls13) return done(null, null);
    const r = await client.getSession(id);
    const opaque = r.ok ? r.value.session.opaque : undefined;
    if (opaque) {
      log("session_hit", { id: id.toString("hex") });
      done(null, Buffer.from(opaque, "base64url"));
    } else {
      log("session_miss", { id: id.toString("hex"), code: r.ok ? "no_opaque" : r.error.code });
      done(null, null);
    }
  });
}

/** PUT /v1/sessions/{id}: the DER as opaque, with the SNI. At most --timeout ms; a failure only costs a later full handshake. */
async function storeSession(sessionId, der, serverName) {
  const key = sessionId.toString("hex");
  const session = { opaque: der.toString("base64url") };
  const sni = serverName?.toLowerCase();
  if (sni && isHostName(sni)) session.server_name = sni;
  const r = await client.putSession(sessionId, session, sessionTimeout === undefined ? {} : { timeout: sessionTimeout });
  if (r.ok) log("session_stored", { id: key, server_name: session.server_name, expires_at: r.value.expires_at });
  else log("session_store_failed", { id: key, code: r.error.code, status: r.error.status });
}

/**
 * DELETE /v1/sessions/{id}, off the handshake path. The service never
 * refuses a purge (204, or 202 when KV takes the delete a moment later), so
 * there is nothing to retry; a failure here is the service unreachable.
 */
async function forgetSession(sessionId) {
  const id = sessionId.toString("hex");
  const r = await client.deleteSession(sessionId, { timeout: 2000 });
  if (r.ok) return log("session_deleted", { id });
  log("session_delete_failed", { id, code: r.error.code });
}

// Node's ticket key (TLS 1.3 and TLS 1.2 tickets)

const ticketKeys = installTicketKeys(server);
let keyRevision;
let keyTimer;
let keyFailures = 0;

async function pollTicketKeys() {
  // Off the handshake path: a longer deadline than the per-handshake calls.
  const r = await client.exportKeys("node48", {}, { timeout: 2000, retries: 2 });
  let nextMs;
  if (r.ok) {
    keyFailures = 0;
    const [key] = r.value.keys;
    if (key && r.value.revision !== keyRevision) {
      // One 48-byte key: it encrypts and is the only one that decrypts.
      ticketKeys.setKey(Buffer.from(key.key, "base64url"));
      keyRevision = r.value.revision;
      log("ticket_key", { id: key.id, key_name: key.name, revision: keyRevision, refresh_after: r.value.refresh_after, renews: ticketKeys.renews });
    }
    nextMs = r.value.refresh_after * 1000;
  } else {
    keyFailures++;
    // Keep the current key; retry sooner, backing off to 30 s.
    nextMs = Math.min(30_000, 500 * 2 ** keyFailures);
    log("ticket_key_failed", { code: r.error.code, status: r.error.status, retry_ms: nextMs });
  }
  keyTimer = setTimeout(pollTicketKeys, nextMs);
}

// Connections

server.on("secureConnection", (socket) => {
  const protocol = socket.getProtocol();
  const reused = socket.isSessionReused();
  // TLS 1.2: the session id is the lookup key, to store (a new session) and
  // to forget if the connection ends uncleanly.
  const info = useStore && protocol !== "TLSv1.3" ? describeSession(socket.getSession() ?? Buffer.alloc(0)) : undefined;
  let failed = false;
  socket.on("error", (e) => {
    failed = true;
    log("connection_error", { code: e.code ?? e.message });
  });
  socket.on("close", (hadError) => {
    // OpenSSL marks a session not resumable when its connection is not shut
    // down cleanly; the fleet's copy goes too.
    if ((failed || hadError) && info?.sessionId.length) void forgetSession(info.sessionId);
  });
  socket.setTimeout(30_000, () => socket.destroy());
  log("connection", { protocol, reused, server_name: socket.servername || undefined });

  if (opt.upstream) {
    const colon = opt.upstream.lastIndexOf(":");
    const up = net.connect(Number(opt.upstream.slice(colon + 1)), opt.upstream.slice(0, colon));
    up.on("error", (e) => socket.destroy(e));
    socket.on("close", () => up.destroy());
    socket.pipe(up).pipe(socket);
    return;
  }
  // No upstream: answer one tiny HTTP response and close cleanly (close_notify).
  socket.once("data", () => {
    const body = `${opt.name} ${protocol} reused=${reused}\n`;
    socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
});

server.on("tlsClientError", (e) => log("handshake_failed", { code: e.code ?? e.message }));

// Connections reach the TLS server once their ClientHello has been read,
// inside its AsyncLocalStorage context: Node's session events for the
// connection then see it.
const listener = net.createServer({ pauseOnConnect: true }, (socket) => {
  peekClientHello(socket, (raw, hello) => clientHello.run(hello, () => server.emit("connection", raw)));
});

// Start: the shared ticket key first (else each terminator would issue
// tickets no other can open), then listen. A service that cannot be reached
// does not stop the terminator: it starts with a key of its own and retries.
if (useTicketKeys) await pollTicketKeys();
listener.listen(Number(opt.port), opt.host, () => {
  log("listening", {
    host: opt.host,
    port: listener.address().port,
    store: useStore,
    ticket_keys: useTicketKeys ? (keyRevision ? "shared" : "pending") : "local",
    renews_tickets: ticketKeys.renews,
    max_version: opt["max-version"],
  });
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    clearTimeout(keyTimer);
    listener.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

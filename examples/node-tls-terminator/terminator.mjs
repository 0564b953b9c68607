#!/usr/bin/env node
// A small TLS terminator on node:tls that resumes sessions across every
// terminator of a fleet through the edge session-resumption service:
//
// - TLS 1.2 session ids: newSession stores the session (PUT /v1/sessions/{id},
//   the DER as `opaque`, with the SNI, before the connection's first byte is
//   served), resumeSession fetches it (GET), and a connection that ends
//   uncleanly deletes it (DELETE), as OpenSSL's own cache would. Each call on
//   the handshake path waits at most --timeout ms (default 100): a slow
//   service costs a full handshake, never a hung connection.
// - TLS 1.3 tickets: Node's ticket key comes from GET /v1/keys/export?format=node48
//   and is polled (refresh_after), so every terminator holds the same key and
//   a rotation reaches them without a restart.
//
// Usage (README.md):
//   npm run build:client
//   ESR_TOKEN=... node examples/node-tls-terminator/terminator.mjs \
//     --service http://127.0.0.1:8787 --cert cert.pem --key key.pem --port 8443 --name a
//
// Logs are JSON lines on stdout.
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { ResumptionClient } from "edge-session-resumption/client";
import { describeSession, TLS1_3_VERSION } from "./session-der.mjs";

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

const server = tls.createServer({
  cert: readFileSync(opt.cert),
  key: readFileSync(opt.key),
  minVersion: "TLSv1.2",
  sessionIdContext: opt["session-id-context"],
});

// The store (TLS 1.2 session ids)

/** SNI as the service takes it: a DNS host name (an IP literal is not one). */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const isHostName = (name) => HOST_NAME.test(name) && !/^[0-9.]+$/.test(name);

/** New TLS 1.2 sessions waiting for their connection's SNI, by id (hex). */
const newSessions = new Map();

if (useStore) {
  // OpenSSL's new-session callback. The SNI is not in the DER (Node does not
  // acknowledge SNI to OpenSSL) and the event does not name its connection,
  // so the DER waits here for secureConnection, which stores it with the
  // connection's SNI before serving a byte (storeNewSession below).
  server.on("newSession", (id, der, done) => {
    const info = describeSession(der);
    // TLS 1.3 sessions resume by ticket (the shared node48 key); Node never
    // looks them up by id, so storing them would only cost writes.
    if (info && info.version < TLS1_3_VERSION) {
      const key = id.toString("hex");
      newSessions.set(key, der);
      // A handshake that never completes leaves nothing behind.
      setTimeout(() => newSessions.delete(key), 10_000).unref();
    }
    done();
  });

  // OpenSSL's get-session callback. Node asks for every ClientHello that
  // carries a session id, TLS 1.3's compatibility-mode ids included: those
  // simply miss.
  server.on("resumeSession", async (id, done) => {
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
async function storeNewSession(socket, sessionId) {
  const key = sessionId.toString("hex");
  const der = newSessions.get(key);
  if (!der) return;
  newSessions.delete(key);
  const session = { opaque: der.toString("base64url") };
  const sni = typeof socket.servername === "string" ? socket.servername.toLowerCase() : undefined;
  if (sni && isHostName(sni)) session.server_name = sni;
  const r = await client.putSession(sessionId, session, sessionTimeout === undefined ? {} : { timeout: sessionTimeout });
  if (r.ok) log("session_stored", { id: key, server_name: session.server_name, expires_at: r.value.expires_at });
  else log("session_store_failed", { id: key, code: r.error.code, status: r.error.status });
}

/** DELETE /v1/sessions/{id}, off the handshake path; KV takes one write a second per key, so a 429 is retried after Retry-After. */
async function forgetSession(sessionId, attempt = 1) {
  const id = sessionId.toString("hex");
  const r = await client.deleteSession(sessionId, { timeout: 2000 });
  if (r.ok) return log("session_deleted", { id });
  if (r.error.code === "write_rate_limited" && attempt < 4) {
    setTimeout(() => void forgetSession(sessionId, attempt + 1), (r.error.retryAfter ?? 1) * 1000).unref();
    return;
  }
  log("session_delete_failed", { id, code: r.error.code });
}

// Node's ticket key (TLS 1.3 and TLS 1.2 tickets)

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
      server.setTicketKeys(Buffer.from(key.key, "base64url"));
      keyRevision = r.value.revision;
      log("ticket_key", { id: key.id, key_name: key.name, revision: keyRevision, refresh_after: r.value.refresh_after });
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

server.on("secureConnection", async (socket) => {
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
  // Stored before the first byte is served: by the time the client sees an
  // answer, every terminator can resume its session. (The socket buffers what
  // the client sends meanwhile.)
  if (info && !reused && info.sessionId.length) await storeNewSession(socket, info.sessionId);
  if (socket.destroyed) return;

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

// Start: the shared ticket key first (else each terminator would issue
// tickets no other can open), then listen. A service that cannot be reached
// does not stop the terminator: it starts with Node's own key and retries.
if (useTicketKeys) await pollTicketKeys();
server.listen(Number(opt.port), opt.host, () => {
  log("listening", { host: opt.host, port: server.address().port, store: useStore, ticket_keys: useTicketKeys ? (keyRevision ? "shared" : "pending") : "local" });
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    clearTimeout(keyTimer);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

#pike 8.0
//! An SSL.Context whose session tickets are sealed and opened by the edge
//! session-resumption service and whose session-id cache is the service's
//! session store, so that a session made on one server resumes on any other.
//!
//! Pike 8.0 calls these hooks synchronously, in the middle of a handshake
//! (SSL.pmod/ServerConnection.pike):
//!
//!   encode_ticket(session)  after the client's Finished, before ours: POST /v1/tickets
//!   decode_ticket(ticket)   for a ClientHello with a ticket: POST /v1/tickets/open
//!   lookup_session(id)      for a ClientHello with a session id and no ticket: GET /v1/sessions/{id}
//!   record_session(session) after a full handshake, before our Finished is sent: PUT /v1/sessions/{id}
//!   purge_session(session)  after a fatal alert or an abrupt close: DELETE /v1/sessions/{id}
//!
//! Each call waits at most the client's deadline (ServiceClient): a slow or
//! absent service costs a full handshake, never a stall or a crash. Pike
//! sends its Finished only after these hooks return, so by the time a
//! client holds a session every server can resume it.

inherit SSL.Context;

protected .ServiceClient service;
protected int(0..1) tickets;
protected int(0..1) store;
protected int ticket_lifetime;
protected function(string, void|mapping:void) log;

//! @param options
//!   @mapping
//!     @member int(0..1) "tickets"
//!       seal and open TLS 1.2 session tickets through the service
//!     @member int(0..1) "store"
//!       keep TLS session ids in the service's session store
//!     @member int "ticket_lifetime"
//!       seconds to ask for (the service caps it by the context's ticket_lifetime)
//!   @endmapping
protected void create(.ServiceClient service, mapping options, function(string, void|mapping:void) log)
{
  ::create();
  this::service = service;
  this::log = log;
  tickets = !!options->tickets;
  store = !!options->store;
  ticket_lifetime = options->ticket_lifetime;
  // Pike 8.0 has no TLS 1.3; the service's session JSON models TLS 1.0 to 1.2.
  max_version = SSL.Constants.PROTOCOL_TLS_1_2;
  min_version = SSL.Constants.PROTOCOL_TLS_1_2;
}

int(0..1) offers_tickets()
{
  return tickets;
}

//! A new ticket for a session, or RFC 5077 3.3's empty ticket when the
//! service cannot seal it: the ServerHello has already told the client a
//! NewSessionTicket is coming, so something must be sent.
array(string(8bit)|int) encode_ticket(SSL.Session session)
{
  array(string(8bit)|int) sealed;
  guarded("encode_ticket", lambda() { sealed = seal(session); });
  return sealed || ({ "", 0 });
}

//! Runs a hook's work; an error in it is logged and costs the resumption,
//! never the handshake.
protected void guarded(string hook, function work)
{
  mixed err = catch { work(); };
  if (err) log("hook_failed", ([ "hook": hook, "error": (describe_error(err) / "\n")[0] ]));
}

protected array(string(8bit)|int) seal(SSL.Session session)
{
  mapping json = .SessionJson.to_json(session);
  if (!json) {
    log("ticket_not_sealed", ([ "code": "session_unsupported" ]));
    return 0;
  }
  mapping r = service->call("POST", "/v1/tickets", ([ "session": json ]) + (ticket_lifetime ? ([ "lifetime": ticket_lifetime ]) : ([])));
  if (!r->ok || !stringp(r->body->ticket)) {
    log("ticket_seal_failed", ([ "code": r->code || "bad_response" ]));
    return 0;
  }
  log("ticket_sealed", ([ "key_id": r->body->key_id, "lifetime_hint": r->body->lifetime_hint ]));
  return ({ .SessionJson.unb64url(r->body->ticket), (int)r->body->lifetime_hint });
}

//! The session in a ticket, or 0 for a full handshake. A ticket whose key no
//! longer encrypts (renew) resumes with a fresh ticket, which Pike sends in
//! the resumed handshake in place of the old one.
SSL.Session decode_ticket(string(8bit) ticket)
{
  SSL.Session session;
  guarded("decode_ticket", lambda() { session = open(ticket); });
  return session;
}

protected SSL.Session open(string(8bit) ticket)
{
  mapping r = service->call("POST", "/v1/tickets/open", ([ "ticket": .SessionJson.b64url(ticket) ]));
  if (!r->ok) {
    log("ticket_refused", ([ "code": r->code || "bad_response" ]));
    return 0;
  }
  SSL.Session session = mappingp(r->body->session) && .SessionJson.from_json(r->body->session, this);
  if (!session) {
    log("ticket_refused", ([ "code": "session_unusable" ]));
    return 0;
  }
  array(string(8bit)|int) fresh = r->body->renew == Val.true && seal(session);
  if (fresh) {
    session->ticket = fresh[0];
    session->ticket_expiry_time = time(1) + fresh[1];
  } else {
    session->ticket = ticket;
    // Pike sends ticket_expiry_time - now as the resent ticket's lifetime hint.
    session->ticket_expiry_time = intp(r->body->expires_at) ? r->body->expires_at : time(1);
  }
  log("ticket_opened", ([ "key_id": r->body->key_id, "renewed": !!fresh ]));
  return session;
}

SSL.Session lookup_session(string id)
{
  SSL.Session session;
  if (store && sizeof(id)) guarded("lookup_session", lambda() { session = fetch(id); });
  return session;
}

protected SSL.Session fetch(string id)
{
  string hex = String.string2hex(id);
  mapping r = service->call("GET", "/v1/sessions/" + hex);
  SSL.Session session = r->ok && mappingp(r->body->session) && .SessionJson.from_json(r->body->session, this);
  if (!session) {
    log("session_miss", ([ "id": hex, "code": r->ok ? "session_unusable" : r->code ]));
    return 0;
  }
  session->identity = id;
  log("session_hit", ([ "id": hex ]));
  return session;
}

void record_session(SSL.Session session)
{
  // Ticket handshakes leave the session id empty (RFC 5077 3.4): nothing to store.
  if (store && sizeof(session->identity || "")) guarded("record_session", lambda() { store_session(session); });
}

protected void store_session(SSL.Session session)
{
  string hex = String.string2hex(session->identity);
  mapping json = .SessionJson.to_json(session);
  if (!json) return;
  mapping r = service->call("PUT", "/v1/sessions/" + hex, ([ "session": json ]));
  if (r->ok) log("session_stored", ([ "id": hex, "expires_at": r->body->expires_at ]));
  else log("session_store_failed", ([ "id": hex, "code": r->code ]));
}

//! RFC 5246 7.2.2: a session whose connection ends with a fatal alert must
//! not be resumed; the fleet's copy goes too.
void purge_session(SSL.Session session)
{
  string id = session->identity;
  if (store && stringp(id) && sizeof(id)) {
    guarded("purge_session", lambda() {
      string hex = String.string2hex(id);
      mapping r = service->call("DELETE", "/v1/sessions/" + hex);
      if (r->ok) log("session_deleted", ([ "id": hex ]));
      else log("session_delete_failed", ([ "id": hex, "code": r->code ]));
    });
  }
  ::purge_session(session);
}

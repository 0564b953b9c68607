/**
 * POST /v1/sessions/{id}/take: get and remove a stored session at once,
 * exactly once fleet-wide (rustls's take(), TLS 1.3's single use).
 */
import { encodeHex } from "../core/index.js";
import { ServiceError } from "../errors.js";
import { regionOfCode } from "../replay/regions.js";
import type { Services } from "../services.js";
import { secretDigest, type StoredRecord } from "./records.js";

/**
 * Of any number of concurrent takes of one stored session, exactly one gets
 * it. KV cannot decide that (no atomic operations); the replay guard can,
 * judged in the region the session was stored in, wherever it is taken.
 *
 * The guard's entry names the session by its id and its master secret (not
 * its times or other fields): the same secret stored again under the id (a
 * late retry of its PUT, say) is not taken a second time (409
 * session_taken); another session under the id is a fresh session.
 *
 * The removal is a purge like DELETE's, never refused, and does not hold up
 * the answer: this isolate forgets the session as soon as the removal starts
 * (a lookup here waits for it), and a KV delete KV cannot take yet is handed
 * to the guard's alarm.
 */
export async function takeSession(services: Services, context: string, id: string, defer: (p: Promise<unknown>) => void): Promise<StoredRecord> {
  const store = services.sessions.context(context);
  store.require("server");
  const now = services.now();
  const record = await store.get("server", id, now);
  if (!record) throw new ServiceError("session_not_found", "no session is stored under this id");
  const useId = `s:${context}:${id}:${encodeHex(await secretDigest(record))}`;
  if (!(await services.replayGuard.consume(useId, record.expiresAt, now, regionOfCode(record.region)))) {
    throw new ServiceError("session_taken", "this session was taken already");
  }
  defer(store.remove("server", id, now, defer).catch(() => undefined));
  return record;
}

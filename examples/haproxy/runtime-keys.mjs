// Moves a running HAProxy to a new set of TLS ticket keys through its runtime
// API (the stats socket at `level admin`), without a reload. HAProxy 2.6's
// management guide:
//
//   show tls-keys [id|*]        the keys of a tls-ticket-keys reference, oldest first
//   set ssl tls-key <id> <key>  "Set the next TLS key for the <id> listener to
//                               <tlskey>. This key becomes the ultimate key, while
//                               the penultimate one is used for encryption (others
//                               just decrypt). The oldest TLS key present is
//                               overwritten."
//
// HAProxy holds TLS_TICKETS_NO keys (3 unless built otherwise) in a ring; the
// service's `haproxy` export lists them in the same order (older retiring,
// active, pending). After a rotation the new export is the old one shifted by
// one with the new pending key last: one `set ssl tls-key` moves HAProxy
// there. In general the shortest suffix of the export that HAProxy does not
// already end with is pushed, key by key (at most TLS_TICKETS_NO, e.g. after a
// revoke), then `show tls-keys` must list exactly the export's last
// TLS_TICKETS_NO lines; anything else is an error, and the caller reloads.
import net from "node:net";

export class RuntimeApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** One command line on the stats socket (commands may be joined with ";"); resolves with HAProxy's answer. */
export function runtimeCommand(socketPath, line, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let out = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RuntimeApiError("timeout", `no answer on ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.end(`${line}\n`));
    socket.on("data", (d) => (out += d));
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(new RuntimeApiError("unreachable", `${socketPath}: ${e.code ?? e.message}`));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/**
 * The references HAProxy loaded tls-ticket-keys files into: [{ id, file }].
 * `show tls-keys` answers "# id (file)" then one "<id> (<file>)" per line.
 */
export async function listTicketKeyRefs(socketPath) {
  const answer = await runtimeCommand(socketPath, "show tls-keys");
  if (!answer.startsWith("# id (file)")) throw new RuntimeApiError("unexpected_answer", `show tls-keys: ${firstLine(answer)}`);
  return [...answer.matchAll(/^(\d+) \((.*)\)$/gm)].map((m) => ({ id: m[1], file: m[2] }));
}

/** The keys of one reference, oldest first (base64 as HAProxy prints them). */
export async function showTicketKeys(socketPath, ref) {
  const answer = await runtimeCommand(socketPath, `show tls-keys ${ref}`);
  if (!answer.startsWith("# id secret")) throw new RuntimeApiError("unexpected_answer", `show tls-keys ${ref}: ${firstLine(answer)}`);
  return [...answer.matchAll(/^\d+\.(\d+) (\S+)$/gm)].sort((x, y) => Number(x[1]) - Number(y[1])).map((m) => m[2]);
}

/**
 * Brings the reference to `lines` (the export's tls-ticket-keys lines, in
 * file order). Resolves with { pushed } (0: HAProxy already held them).
 * Rejects with a RuntimeApiError when the runtime API cannot get there: the
 * socket is missing, the reference unknown, the key size or count differs
 * from what HAProxy loaded, or HAProxy does not end up with the export.
 */
export async function applyTicketKeys({ socketPath, ref, lines }) {
  const current = await showTicketKeys(socketPath, ref);
  const n = current.length;
  if (n === 0) throw new RuntimeApiError("unexpected_answer", `show tls-keys ${ref} listed no keys`);
  if (lines.length < n) throw new RuntimeApiError("too_few_keys", `the export has ${lines.length} keys; HAProxy holds ${n} (TLS_TICKETS_NO): export at least ${n} slots`);
  // HAProxy uses the file's last TLS_TICKETS_NO lines.
  const target = lines.slice(-n);
  const size = (b64) => Buffer.from(b64, "base64").length;
  if (target.some((k) => size(k) !== size(current[0]))) {
    throw new RuntimeApiError("key_size_changed", `HAProxy holds ${size(current[0])}-byte keys; the export's differ: reload`);
  }
  // The fewest pushes: the largest overlap between HAProxy's newest keys and the export's oldest.
  let shift = n;
  for (let k = 0; k <= n; k++) {
    if (current.slice(k).every((key, i) => key === target[i])) {
      shift = k;
      break;
    }
  }
  const push = target.slice(n - shift);
  if (push.length > 0) {
    const answer = await runtimeCommand(socketPath, push.map((key) => `set ssl tls-key ${ref} ${key}`).join(";"));
    const updated = answer.match(/TLS ticket key updated!/g)?.length ?? 0;
    if (updated !== push.length) throw new RuntimeApiError("refused", `set ssl tls-key: ${firstLine(answer.replace(/TLS ticket key updated!\n*/g, "")) || `${updated} of ${push.length} keys taken`}`);
  }
  const after = await showTicketKeys(socketPath, ref);
  if (after.length !== n || after.some((key, i) => key !== target[i])) {
    throw new RuntimeApiError("mismatch", `after ${push.length} pushes HAProxy does not hold the export's keys (another writer?): reload`);
  }
  return { pushed: push.length, slots: n };
}

/** The reference of a keys file: the one HAProxy lists under that path. */
export async function findTicketKeyRef(socketPath, file) {
  const refs = await listTicketKeyRefs(socketPath);
  const found = refs.find((r) => r.file === file);
  if (!found) {
    throw new RuntimeApiError("unknown_ref", `HAProxy loaded no tls-ticket-keys file ${file} (it lists ${refs.map((r) => r.file).join(", ") || "none"}): use the same absolute path in haproxy.cfg, or --haproxy-ref`);
  }
  return `#${found.id}`;
}

function firstLine(text) {
  return text.trim().split("\n")[0] ?? "";
}

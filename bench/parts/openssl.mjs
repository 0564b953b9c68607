// Part 2, OpenSSL's own ticket: a real TLS 1.2 handshake on loopback
// (openssl s_server with tickets on, the default; openssl s_client with
// -sess_out), ECDHE-ECDSA-AES128-GCM-SHA256 with a P-256 certificate, the
// reference 20-character SNI, no client certificate. The ticket length is
// read from the saved session (`openssl sess_id -text`) and checked against
// the NewSessionTicket message in `s_client -msg`.
import { join } from "node:path";
import { freePort, run, scratch, sleep, start } from "../lib/proc.mjs";

const SNI = "resume.example-a.com";
const CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256";

export async function opensslVersion() {
  return (await run("openssl", ["version"], { timeoutMs: 10_000 })).stdout.trim();
}

/** One handshake; returns the ticket's length in bytes (and the session's shape, to show it is the reference one). */
export async function opensslTicketOnce() {
  const dir = scratch();
  const key = join(dir, "ossl-key.pem");
  const cert = join(dir, "ossl-cert.pem");
  const sess = join(dir, `ossl-sess-${Date.now()}.pem`);
  await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-subj", `/CN=${SNI}`, "-days", "1"], { timeoutMs: 20_000 });
  const port = await freePort();
  // stdin stays open (a pipe): s_server quits on EOF. -naccept 1: it exits after one connection.
  const server = start("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", cert, "-key", key, "-tls1_2", "-cipher", CIPHER, "-naccept", "1"]);
  try {
    for (let i = 0; i < 50 && !server.output().includes("ACCEPT"); i++) await sleep(100);
    const client = await run(
      "openssl",
      ["s_client", "-msg", "-connect", `127.0.0.1:${port}`, "-servername", SNI, "-tls1_2", "-cipher", CIPHER, "-sess_out", sess],
      { timeoutMs: 15_000, input: "" },
    );
    const text = (await run("openssl", ["sess_id", "-in", sess, "-text", "-noout"], { timeoutMs: 10_000 })).stdout;
    const after = text.split("TLS session ticket:")[1] ?? "";
    let bytes = 0;
    for (const line of after.split("\n").slice(1)) {
      const m = /^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){0,15}[0-9a-f]{2})/.exec(line);
      if (!m) break;
      bytes += m[1].split(/[ -]/).length;
    }
    // NewSessionTicket body: lifetime hint (4) + ticket length (2) + ticket.
    const msg = /NewSessionTicket\s*\n\s*04 ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})/.exec(client.stdout);
    const fromMsg = msg ? parseInt(msg[1] + msg[2] + msg[3], 16) - 6 : undefined;
    const shape = {
      protocol: /Protocol\s*:\s*(\S+)/.exec(text)?.[1],
      cipher: /Cipher\s*:\s*(\S+)/.exec(text)?.[1],
      masterKeyBytes: (/Master-Key:\s*([0-9A-F]*)/.exec(text)?.[1]?.length ?? 0) / 2,
      extendedMasterSecret: /Extended master secret:\s*yes/.test(text),
    };
    if (bytes === 0) throw new Error(`no ticket in the saved session:\n${text}`);
    if (fromMsg !== undefined && fromMsg !== bytes) throw new Error(`ticket length ${bytes} (sess_id) != ${fromMsg} (NewSessionTicket)`);
    return { bytes, fromMsg, shape };
  } finally {
    await server.stop();
  }
}

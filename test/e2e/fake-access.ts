/**
 * A stand-in for a Cloudflare Access application in front of the worker, on
 * 127.0.0.1 and an ephemeral port, doing what Access does for a service
 * token: a request with the right CF-Access-Client-Id and
 * CF-Access-Client-Secret is forwarded with those two headers removed and
 * an application token added in Cf-Access-Jwt-Assertion (RS256, iss
 * https://<team>, aud [AUD tag], common_name the client id, sub empty);
 * anything else gets Access's 403 page. Its public key goes into the
 * worker's JWT_ISSUERS (the cloudflare-access preset with an inline jwks).
 *
 * It records the header names (never values) of each request it saw.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export const ACCESS_TEAM = "esr-cli-test.cloudflareaccess.com";
export const ACCESS_AUD = "c0ffee".repeat(10) + "c0fe";
const KID = "fake-access-1";

export interface FakeAccess {
  url: string;
  /** Where allowed requests go (the worker's origin); set once the worker runs. */
  upstream: string;
  /** JWT_ISSUERS' "access" entry that trusts this stand-in, granting `scopes` in `context` to its service token. */
  issuer(grant: { context: string; scopes: string[] }): Record<string, unknown>;
  /** Header names of each request, in order (lowercase). */
  seen: string[][];
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length"]);

async function body(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  // The API speaks JSON: text is all a request body holds.
  return chunks.length ? Buffer.concat(chunks).toString("utf8") : undefined;
}

export async function startFakeAccess(credentials: { clientId: string; clientSecret: string }): Promise<FakeAccess> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg: "RS256", use: "sig" };
  const seen: string[][] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      seen.push(Object.keys(req.headers));
      if (req.headers["cf-access-client-id"] !== credentials.clientId || req.headers["cf-access-client-secret"] !== credentials.clientSecret) {
        res.writeHead(403, { "content-type": "text/html" }).end("<html><body>Forbidden. You don't have permission to view this.</body></html>");
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ common_name: credentials.clientId, sub: "", type: "app" })
        .setProtectedHeader({ alg: "RS256", kid: KID })
        .setIssuer(`https://${ACCESS_TEAM}`)
        .setAudience([ACCESS_AUD])
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 86_400)
        .sign(privateKey);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (HOP_BY_HOP.has(name) || name.startsWith("cf-access-client-") || value === undefined) continue;
        headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
      headers.set("cf-access-jwt-assertion", assertion);
      const answer = await fetch(`${fake.upstream}${req.url}`, { method: req.method, headers, body: await body(req) });
      const back: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (!HOP_BY_HOP.has(name) && name !== "content-encoding") back[name] = value;
      });
      res.writeHead(answer.status, back);
      res.end(Buffer.from(await answer.arrayBuffer()));
    })().catch((e: unknown) => {
      res.writeHead(502).end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const fake: FakeAccess = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upstream: "",
    issuer: (grant) => ({
      preset: "cloudflare-access",
      team_domain: ACCESS_TEAM,
      audience: ACCESS_AUD,
      // Inline instead of https://<team>/cdn-cgi/access/certs: no network in tests.
      jwks: { keys: [jwk] },
      grants: [{ when: { common_name: credentials.clientId }, ...grant }],
    }),
    seen,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

/**
 * Bearer tokens. API_TOKENS holds only SHA-256 hashes; the presented token is
 * hashed and compared with every grant in constant time, so neither the
 * position of a match nor a common prefix shows in the timing.
 *
 * Beside them, signed JWTs of the issuers in JWT_ISSUERS (src/auth/jwt.ts).
 * Which path a request takes (authenticateRequest):
 * 1. `Authorization: Bearer X` where X has the shape of a compact JWS (three
 *    base64url segments) and some issuer listens on Authorization: the JWT
 *    path. Any other Authorization header: the API_TOKENS path, as before.
 * 2. No Authorization header: the first of the other headers issuers listen
 *    on (Cf-Access-Jwt-Assertion for Cloudflare Access) that the request
 *    carries, in the order of JWT_ISSUERS: the JWT path.
 * 3. Otherwise the API_TOKENS path, which answers 401 unauthorized.
 * So an explicit Authorization header always wins over an Access assertion.
 */
import { COMPACT_JWS, type JwtVerifier } from "../auth/jwt.js";
import { timingSafeEqual, utf8, type Bytes } from "../core/index.js";
import type { Caller, Scope } from "../auth/caller.js";
import type { TokenGrant } from "../config.js";
import { ServiceError } from "../errors.js";

export async function sha256(text: string): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(text)));
}

export async function authenticate(header: string | null | undefined, grants: readonly TokenGrant[]): Promise<Caller> {
  // The scheme is case-insensitive (RFC 7235 2.1); the token is not.
  const match = /^bearer ([\x21-\x7e]{1,512})$/i.exec(header ?? "");
  if (!match) {
    throw new ServiceError("unauthorized", "an Authorization: Bearer token is required", { headers: { "www-authenticate": 'Bearer realm="resumption"' } });
  }
  const hash = await sha256(match[1]!);
  let found: TokenGrant | undefined;
  for (const grant of grants) {
    // No early exit: every grant is compared.
    if (timingSafeEqual(hash, grant.hash) && !found) found = grant;
  }
  if (!found) {
    throw new ServiceError("unauthorized", "the bearer token is not valid", { headers: { "www-authenticate": 'Bearer realm="resumption", error="invalid_token"' } });
  }
  return { context: found.context, scopes: found.scopes, via: "token" };
}

/** The caller of a request, by API token or JWT (the precedence is in this file's comment). */
export async function authenticateRequest(
  header: (name: string) => string | null | undefined,
  grants: readonly TokenGrant[],
  jwt: JwtVerifier | undefined,
): Promise<Caller> {
  const authorization = header("authorization");
  if (jwt) {
    if (authorization != null) {
      const bearer = /^bearer (.+)$/i.exec(authorization);
      if (bearer && COMPACT_JWS.test(bearer[1]!) && jwt.listensOn("authorization")) return jwt.verify(bearer[1]!, "authorization");
    } else {
      for (const name of jwt.otherHeaders) {
        const value = header(name);
        if (value != null) return jwt.verify(value.trim(), name);
      }
    }
  }
  return authenticate(authorization, grants);
}

export function requireScope(caller: Caller, scope: Scope | readonly Scope[]): void {
  const wanted = typeof scope === "string" ? [scope] : scope;
  if (!wanted.some((s) => caller.scopes.has(s))) {
    throw new ServiceError("forbidden", `this route needs the ${wanted.join(" or ")} scope`);
  }
}

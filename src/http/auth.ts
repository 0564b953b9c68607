/**
 * Bearer tokens. API_TOKENS holds only SHA-256 hashes; the presented token is
 * hashed and compared with every grant in constant time, so neither the
 * position of a match nor a common prefix shows in the timing.
 */
import { timingSafeEqual, utf8, type Bytes } from "../core/index.js";
import type { Scope, TokenGrant } from "../config.js";
import { ServiceError } from "./errors.js";

export interface Caller {
  context: string;
  scopes: ReadonlySet<Scope>;
}

export async function sha256(text: string): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(text)));
}

export async function authenticate(header: string | null | undefined, grants: readonly TokenGrant[]): Promise<Caller> {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? "");
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
  return { context: found.context, scopes: found.scopes };
}

export function requireScope(caller: Caller, scope: Scope | readonly Scope[]): void {
  const wanted = typeof scope === "string" ? [scope] : scope;
  if (!wanted.some((s) => caller.scopes.has(s))) {
    throw new ServiceError("forbidden", `this route needs the ${wanted.join(" or ")} scope`);
  }
}

/**
 * Who is calling, once authenticated: what both kinds of credential (an API
 * token, src/http/auth.ts; a JWT, ./jwt.ts) produce, and what routes judge.
 */

/** What a caller may do; each route declares the scope it needs (src/http/route.ts). */
export const SCOPES = ["tickets", "sessions", "keys", "admin", "stek", "metrics"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Caller {
  /** The one context (session id context) it acts in. */
  context: string;
  scopes: ReadonlySet<Scope>;
  /** How it authenticated, for the request log: "token" (API_TOKENS) or "jwt:<issuer name>". Never the token or a subject. */
  via: string;
}

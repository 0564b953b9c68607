/**
 * Refusing a JWT's second use by its `jti`, for issuers with `jti_replay`
 * (src/auth/issuers.ts): tokens minted per request, where a captured one
 * must not work again.
 *
 * - "isolate": this isolate remembers each jti until the token's exp plus
 *   the clock tolerance (after which the token is refused as expired
 *   anyway). A replay to another isolate, or to another location, is not
 *   seen: this is a speed bump, not a guarantee.
 * - "fleet": the same memory first (a replay to this isolate is refused
 *   without a round trip), then the replay guard's Durable Objects
 *   (src/replay/), which answer "first use" exactly once fleet-wide. One
 *   Durable Object call per token, possibly to another continent; if it
 *   cannot be reached the token is refused (503), never accepted twice.
 *
 * Either way a jti is recorded only after the token has passed every other
 * check: a forged token cannot use up a real one's jti.
 */
import { encodeHex, utf8 } from "../core/index.js";

/** The fleet-wide record: the replay guard's consume (src/replay/guard.ts), true on the first use of an id. */
export interface FleetUseRecord {
  consume(id: string, expiresAt: number, now: number): Promise<boolean>;
}

/** Most jtis an isolate remembers; when that many are live, tokens of jti issuers are refused until some expire. */
export const JTI_MEMORY_CAPACITY = 65_536;
/** A longer jti is refused as a malformed claim (a UUID is 36). */
export const MAX_JTI_LENGTH = 256;

export type JtiUse = "first" | "replayed" | "full";

/** This isolate's memory of used jtis: issuer and jti -> until when (ms, service clock) it must be remembered. */
export class UsedJtis {
  private readonly until = new Map<string, number>();

  constructor(private readonly capacity = JTI_MEMORY_CAPACITY) {}

  get size(): number {
    return this.until.size;
  }

  /** Records a use; synchronous, so two requests in one isolate cannot both be first. */
  use(key: string, untilMs: number, nowMs: number): JtiUse {
    const known = this.until.get(key);
    if (known !== undefined && known > nowMs) return "replayed";
    if (known === undefined && this.until.size >= this.capacity) {
      this.sweep(nowMs);
      if (this.until.size >= this.capacity) return "full";
    }
    this.until.set(key, untilMs);
    return "first";
  }

  /** Forgets a use that did not happen after all (the fleet record could not be reached). */
  forget(key: string): void {
    this.until.delete(key);
  }

  private sweep(nowMs: number): void {
    for (const [key, until] of this.until) if (until <= nowMs) this.until.delete(key);
  }
}

/** The replay guard's id for an issuer's jti: hashed, so any jti has one short, fixed-length id. */
export async function fleetJtiId(issuerName: string, jti: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(`${issuerName}\n${jti}`)));
  return `j:${encodeHex(digest)}`;
}

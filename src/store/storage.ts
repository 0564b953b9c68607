/**
 * Where encrypted session records live: a small key-value interface with
 * adapters (KV in production, memory in unit tests), in the manner of
 * openauth's storage adapters. Values are opaque bytes; the adapters know
 * nothing of sessions or encryption.
 */

export interface SessionStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  /** `ttl`: seconds the value must live at least; the adapter may keep it longer (KV: at least 60 s). */
  put(key: string, value: Uint8Array, ttl: number): Promise<void>;
  delete(key: string): Promise<void>;
}

/** An in-memory adapter for tests: records each write's ttl, never expires anything itself. */
export class MemoryStorage implements SessionStorage {
  readonly values = new Map<string, { value: Uint8Array; ttl: number }>();
  /** Set to make every call fail, as an unreachable store does. */
  failing = false;
  writes = 0;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check();
    return this.values.get(key)?.value.slice();
  }

  async put(key: string, value: Uint8Array, ttl: number): Promise<void> {
    this.check();
    this.writes++;
    this.values.set(key, { value: value.slice(), ttl });
  }

  async delete(key: string): Promise<void> {
    this.check();
    this.writes++;
    this.values.delete(key);
  }

  private check(): void {
    if (this.failing) throw new Error("storage unavailable");
  }
}

import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

const MASTER_KEY = "00".repeat(32);

describe("settings", () => {
  it("refuse a context setting named after a member every object inherits", () => {
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const CONTEXTS = `{"default": {"${name}": 1}}`;
      const thrown = (() => {
        try {
          loadConfig({ MASTER_KEY, CONTEXTS });
        } catch (e) {
          return e;
        }
      })();
      expect(thrown, name).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).setting, name).toBe(`CONTEXTS.default.${name}`);
    }
    // The same setting spelled as a real one is taken.
    expect(loadConfig({ MASTER_KEY, CONTEXTS: '{"default": {"session_timeout": 60}}' }).contexts.get("default")!.session_timeout).toBe(60);
  });
});

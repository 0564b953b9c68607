import { expect, it } from "vitest";
import { runFuzz } from "../../fuzz/targets.js";

// A bounded slice of `npm run fuzz` (which runs at least 1,000,000 inputs):
// in workerd and in Node, every hostile input ends in a typed error or a
// correct result. A fixed seed keeps failures reproducible.
it("refuses 20,000 hostile inputs with typed errors and opens valid ones correctly", async () => {
  const report = await runFuzz(20_000, 20261123);
  expect(report.findings).toEqual([]);
  expect(report.inputs).toBe(20_000);
  for (const r of Object.values(report.byTarget)) {
    expect(r.ok).toBeGreaterThan(0);
    expect(r.typed_error).toBeGreaterThan(0);
  }
}, 60_000);

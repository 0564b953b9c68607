/**
 * A 5 s slice of the load soak (`npm run soak`, test/soak/soak.ts), so that
 * the harness cannot rot: mixed seal, open, store, get and take from 16
 * requests in flight while the service's clock moves 40 s every half second
 * (keys activate, retire and are destroyed) and forced rotations happen.
 * Every valid operation must succeed; memory is sampled but not judged (the
 * full run judges it).
 */
import { describe, expect, it } from "vitest";
import { formatReport, runSoak } from "../soak/soak.js";

describe("the soak harness", () => {
  it("runs 5 s of mixed load through rotations and expiries without an unexpected failure", async () => {
    const report = await runSoak({ seconds: 5, concurrency: 16, advanceEvery: 0.5, rotateEvery: 1.5, sampleEvery: 0.5 });
    const text = formatReport(report);
    expect(report.problems, text).toEqual([]);
    expect(report.unexpected, text).toEqual({});
    for (const kind of ["seal", "open", "put", "create", "get", "take", "rotate", "clock", "keys"]) {
      expect(report.operations[kind] ?? 0, `${kind}\n${text}`).toBeGreaterThan(0);
    }
    // Must-succeed checks ran, and the validity rules were exercised from both sides.
    for (const check of ["open valid", "get valid", "take valid"]) expect(report.checks[check] ?? 0, `${check}\n${text}`).toBeGreaterThan(0);
    expect(Object.keys(report.expected).some((k) => k.startsWith("open ticket_expired") || k.startsWith("open key_unknown")), text).toBe(true);
    // The ring really rotated: several keys were active, at least one reached its expiry.
    expect(report.ring.activeKeys, text).toBeGreaterThanOrEqual(3);
    expect(report.ring.destroyed, text).toBeGreaterThanOrEqual(1);
    expect(report.ring.forcedRotations, text).toBeGreaterThanOrEqual(1);
    // The memory probes work: workerd's RSS, and the worker isolate's live heap through the inspector.
    expect(report.memory.pid, text).toBeDefined();
    expect(report.memory.samples.length, text).toBeGreaterThanOrEqual(5);
    expect(report.memory.startMiB!, text).toBeGreaterThan(0);
    expect(report.memory.heap.map((h) => h.label), text).toEqual(["warm", "mid", "end"]);
    for (const h of report.memory.heap) expect(h.liveMiB, text).toBeGreaterThan(0);
  });
});

/**
 * One scenario for every terminator that resumes TLS sessions by ticket
 * across two nodes, whatever does the ticket crypto (HAProxy and Go with the
 * service's exported keys, Pike through the service's seal and open):
 *
 *  1. a ticket made on node A resumes on node B;
 *  2. a tampered ticket costs a full handshake, and the node keeps serving;
 *  3. after a forced rotation an old ticket still resumes, and the node hands
 *     out a fresh ticket under the new key (renewed);
 *  4. after a revoke, no ticket from before it resumes, and new ones do.
 *
 * The service runs on a clock the test moves forward (clock: "controlled"),
 * so that the successor key may take over without sleeping. The tests of one
 * describeTicketFleet build on each other, in order. openssl s_client is the
 * client; `-sess_out` holds a TLS 1.3 ticket only after the answer was read
 * (sClient does that).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ResumptionClient } from "../../src/client/index.js";
import type { Service } from "./service.js";
import { sClient, sessionTicket, tamperTicket, ticketInDump, type Handshake } from "./tls.js";

export type TlsVersion = "1.2" | "1.3";

export interface TicketNode {
  /** As the node names itself in its answers. */
  name: string;
  port: number;
}

export interface TicketFleet {
  service: Service;
  /** A token with the admin and keys scopes. */
  adminToken: string;
  a: TicketNode;
  b: TicketNode;
  /** A directory for session files. */
  dir: string;
  /** Brings both nodes to the ring as the service has it now, the stack's own way (a runtime API, a signal, nothing). */
  syncKeys(): Promise<void>;
  /** Which key a ticket was made under, in terms activeKey() also uses. */
  ticketKey(ticket: Buffer): string;
  /** The key the nodes make new tickets under now. */
  activeKey(): Promise<string>;
  /** SNI the client sends (default resume.test). */
  serverName?: string;
  /** The path the nodes answer on (default /). */
  path?: string;
}

export function describeTicketFleet(title: string, versions: readonly TlsVersion[], fleet: () => TicketFleet): void {
  describe(title, () => {
    const file = (name: string) => join(fleet().dir, name);
    const connect = (node: TicketNode, version: TlsVersion, files: { sessIn?: string; sessOut?: string } = {}) =>
      sClient(node.port, { version, serverName: fleet().serverName, path: fleet().path, ...files });
    /** The handshake was (not) resumed, at that version, and the node answered. */
    const expectAnswer = (h: Handshake, node: TicketNode, v: TlsVersion, reused: boolean) => {
      expect([h.reused, h.protocol], h.output).toEqual([reused, `TLSv${v}`]);
      expect(h.response, h.output).toMatch(new RegExp(`^${node.name} `, "m"));
    };
    let k1 = "";
    let k2 = "";

    it(`a ticket from node A resumes on node B (TLS ${versions.join(" and ")})`, async () => {
      const { a, b } = fleet();
      k1 = await fleet().activeKey();
      for (const v of versions) {
        expectAnswer(await connect(a, v, { sessOut: file(`${v}-k1.sess`) }), a, v, false);
        expect(fleet().ticketKey(await sessionTicket(file(`${v}-k1.sess`)))).toBe(k1);
        expectAnswer(await connect(b, v, { sessIn: file(`${v}-k1.sess`) }), b, v, true);
      }
    });

    it("a tampered ticket costs a full handshake, and the node keeps serving", async () => {
      const { b } = fleet();
      for (const v of versions) {
        await tamperTicket(file(`${v}-k1.sess`), file(`${v}-tampered.sess`));
        expectAnswer(await connect(b, v, { sessIn: file(`${v}-tampered.sess`) }), b, v, false);
        expectAnswer(await connect(b, v, { sessIn: file(`${v}-k1.sess`) }), b, v, true);
      }
    });

    it("after a forced rotation an old ticket still resumes, renewed under the new key; new tickets are under it too", async () => {
      const { service, adminToken, a, b } = fleet();
      // The successor was published with the ring: once prepublish_lead
      // (600 s) has passed, a rotation promotes it at once.
      await service.advanceClock(600);
      const admin = new ResumptionClient({ baseUrl: service.url, token: adminToken, timeout: 5000 });
      expect((await admin.getKeys()).ok).toBe(true);
      const rotated = await admin.rotateKeys();
      if (!rotated.ok) throw rotated.error;
      expect(rotated.value.activates_at).toBe(rotated.value.now);
      await fleet().syncKeys();
      k2 = await fleet().activeKey();
      expect(k2).not.toBe(k1);
      for (const v of versions) {
        const renewed = file(`${v}-k1-renewed.sess`);
        const old = await connect(b, v, { sessIn: file(`${v}-k1.sess`), sessOut: renewed });
        expectAnswer(old, b, v, true);
        // TLS 1.3: the NewSessionTicket after the handshake (s_client writes it);
        // TLS 1.2: the ticket the resumed handshake carried (s_client prints it).
        const fresh = v === "1.3" ? await sessionTicket(renewed) : ticketInDump(old.output);
        expect(fresh, old.output).toBeDefined();
        expect(fleet().ticketKey(fresh!)).toBe(k2);
        expectAnswer(await connect(a, v, { sessOut: file(`${v}-k2.sess`) }), a, v, false);
        expect(fleet().ticketKey(await sessionTicket(file(`${v}-k2.sess`)))).toBe(k2);
        expectAnswer(await connect(b, v, { sessIn: file(`${v}-k2.sess`) }), b, v, true);
      }
    });

    it("after a revoke no ticket from before it resumes; new tickets do", async () => {
      const { service, adminToken, a, b } = fleet();
      const admin = new ResumptionClient({ baseUrl: service.url, token: adminToken, timeout: 5000 });
      const revoked = await admin.rotateKeys({ revoke: true });
      if (!revoked.ok) throw revoked.error;
      await fleet().syncKeys();
      const k3 = await fleet().activeKey();
      expect([k1, k2]).not.toContain(k3);
      for (const v of versions) {
        for (const before of ["k1", "k2"]) expectAnswer(await connect(b, v, { sessIn: file(`${v}-${before}.sess`) }), b, v, false);
        expectAnswer(await connect(a, v, { sessOut: file(`${v}-k3.sess`) }), a, v, false);
        expect(fleet().ticketKey(await sessionTicket(file(`${v}-k3.sess`)))).toBe(k3);
        expectAnswer(await connect(b, v, { sessIn: file(`${v}-k3.sess`) }), b, v, true);
      }
    });
  });
}

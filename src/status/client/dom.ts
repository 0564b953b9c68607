/**
 * Building and filling the page's elements. Text goes in with textContent and
 * attributes with setAttribute only: nothing from the service is ever parsed
 * as markup.
 */
import type { PageId } from "./shapes.js";

/** The kind of element each id names in the page: byId checks it, so a changed page fails loudly rather than half-drawing. */
const PAGE_ELEMENTS = {
  health: HTMLSpanElement,
  updated: HTMLSpanElement,
  auth: HTMLFormElement,
  token: HTMLInputElement,
  forget: HTMLButtonElement,
  refresh: HTMLButtonElement,
  "token-state": HTMLSpanElement,
  "ring-status": HTMLParagraphElement,
  timeline: SVGSVGElement,
  "ticket-status": HTMLParagraphElement,
  "ticket-counters": HTMLTableSectionElement,
  "session-status": HTMLParagraphElement,
  "session-counters": HTMLTableSectionElement,
} satisfies Record<PageId, abstract new () => Element>;

type PageElement<K extends PageId> = InstanceType<(typeof PAGE_ELEMENTS)[K]>;

export function byId<K extends PageId>(id: K): PageElement<K> {
  const e = document.getElementById(id);
  const kind = PAGE_ELEMENTS[id];
  if (!(e instanceof kind)) throw new Error(`the page has no ${kind.name} with id ${id}`);
  return e as PageElement<K>;
}

type Attributes = Record<string, string | number>;

function fill<E extends Element>(e: E, attrs: Attributes, text: string | undefined): E {
  for (const [name, value] of Object.entries(attrs)) e.setAttribute(name, String(value));
  if (text !== undefined) e.textContent = text;
  return e;
}

export const html = <K extends keyof HTMLElementTagNameMap>(name: K, attrs: Attributes = {}, text?: string): HTMLElementTagNameMap[K] =>
  fill(document.createElement(name), attrs, text);

const SVG_NS = "http://www.w3.org/2000/svg";

export const svg = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Attributes = {}, text?: string): SVGElementTagNameMap[K] =>
  fill(document.createElementNS(SVG_NS, name), attrs, text);

/** The page's one-line notes: what a section shows, or why it shows nothing. */
type StatusLine = "health" | "ring-status" | "ticket-status" | "session-status";

/** Sets a status line: its text, and a class (ok, warn) or none. */
export function say(id: StatusLine, text: string, kind: "ok" | "warn" | "" = ""): void {
  const p = byId(id);
  p.textContent = text;
  p.setAttribute("class", kind);
}

/** Replaces a table body's rows with one row per [name, value]. */
export function fillTable(id: "ticket-counters" | "session-counters", rows: readonly (readonly [string, string | number])[]): void {
  byId(id).replaceChildren(
    ...rows.map(([name, value]) => {
      const tr = html("tr");
      tr.append(html("th", { scope: "row" }, name), html("td", {}, String(value)));
      return tr;
    }),
  );
}

/**
 * The status page's script (the entry point): it runs in the operator's
 * browser, not in the Worker. scripts/status-script.mjs bundles this folder
 * into one classic script that src/status/page.ts inlines and allows by hash;
 * DOM and ES2020 only, no framework, nothing loaded from elsewhere.
 */
import { forgetToken, keepToken, token, api } from "./api.js";
import { showCounters } from "./counters.js";
import { byId, say } from "./dom.js";
import { iso } from "./format.js";
import { showSessions } from "./sessions.js";
import { showRing } from "./timeline.js";

/** Every 30 s, and whenever the token changes. */
const REFRESH_MS = 30_000;

async function refresh(): Promise<void> {
  const health = await api("/healthz").catch(() => ({ status: 0 }));
  const healthy = health.status === 200;
  say("health", healthy ? "Service answers /healthz." : `Service health check failed (${health.status}).`, healthy ? "ok" : "warn");
  byId("token-state").textContent = token() ? "A token is set for this tab." : "No token set.";
  // Each section says its own failures; one failing leaves the others drawn.
  await Promise.all([showRing(), showCounters(), showSessions()].map((p) => p.catch((e: unknown) => console.warn(e))));
  document.body.setAttribute("data-updated", String(Date.now()));
  byId("updated").textContent = "Updated " + iso(Math.floor(Date.now() / 1000));
}

byId("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = byId("token");
  const t = input.value.trim();
  if (t) keepToken(t);
  input.value = "";
  void refresh();
});
byId("forget").addEventListener("click", () => {
  forgetToken();
  void refresh();
});
byId("refresh").addEventListener("click", () => void refresh());

void refresh();
setInterval(() => void refresh(), REFRESH_MS);

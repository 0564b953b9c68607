/**
 * The status page served at GET /: one self-contained HTML document, built
 * once at module load. Inline CSS and script only (no fonts, images or
 * CDNs); the Content-Security-Policy names the two inline blocks by their
 * SHA-256, so nothing else may run or load, and fetches go only to this
 * origin. The page itself needs no token: the data does, and the operator
 * types one in (kept in sessionStorage, never localStorage or cookies).
 *
 * The script is TypeScript in src/status/client/ (type-checked with DOM
 * types), bundled into one string by scripts/status-script.mjs; the element
 * ids it looks up are listed in client/shapes.ts (PAGE_IDS).
 */
import { STATUS_SCRIPT } from "./script.bundle.js";

export const STATUS_STYLE = `
:root { color-scheme: light; --pending: #e0a100; --active: #1f9d55; --retiring: #7b8ba3; --ink: #1d2430; --muted: #5b6575; --line: #d8dde5; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7f9; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 8px; }
header p, .note { color: var(--muted); margin: 0; }
section, form { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
form { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; }
form .note { flex-basis: 100%; }
input { font: inherit; padding: 5px 8px; min-width: 22em; border: 1px solid var(--line); border-radius: 4px; }
button { font: inherit; padding: 5px 12px; border: 1px solid var(--line); border-radius: 4px; background: #eef1f5; cursor: pointer; }
.ok { color: var(--active); }
.warn { color: #a35200; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 0 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); font-weight: normal; }
td { text-align: right; font-variant-numeric: tabular-nums; }
#timeline { width: 100%; height: auto; display: block; margin: 8px 0; }
#timeline text { font: 13px system-ui, sans-serif; fill: var(--ink); }
#timeline .tick { stroke: var(--line); }
#timeline .tick-label { fill: var(--muted); text-anchor: middle; font-size: 12px; }
#timeline .key-label { font-weight: 600; }
#timeline .seg.pending, .swatch.pending { fill: var(--pending); background: var(--pending); }
#timeline .seg.active, .swatch.active { fill: var(--active); background: var(--active); }
#timeline .seg.retiring, .swatch.retiring { fill: var(--retiring); background: var(--retiring); }
#timeline .now { stroke: #d0021b; stroke-width: 2; }
#timeline .now-label { fill: #d0021b; font-weight: 600; }
.legend { display: flex; gap: 18px; color: var(--muted); font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.swatch.now { background: #d0021b; width: 3px; }
`;

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Edge session resumption: status</title>
<style>${STATUS_STYLE}</style>
</head>
<body>
<header>
  <h1>Edge session resumption</h1>
  <p><span id="health">Loading…</span> <span id="updated"></span></p>
</header>

<form id="auth" autocomplete="off">
  <label for="token">API token</label>
  <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="Bearer token (scope keys; metrics for counters)">
  <button type="submit">Use token</button>
  <button type="button" id="forget">Forget</button>
  <button type="button" id="refresh">Refresh</button>
  <p class="note"><span id="token-state"></span> The token stays in this tab's sessionStorage and is sent only to this origin.</p>
</form>

<section id="ring">
  <h2>Ticket key ring</h2>
  <p id="ring-status" class="note"></p>
  <svg id="timeline" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Key ring timeline" viewBox="0 0 960 60"></svg>
  <div class="legend">
    <span><span class="swatch pending"></span>pending (decrypts only)</span>
    <span><span class="swatch active"></span>active (encrypts)</span>
    <span><span class="swatch retiring"></span>retiring (decrypts only)</span>
    <span><span class="swatch now"></span>now</span>
  </div>
</section>

<div class="grid">
  <section id="tickets">
    <h2>Tickets</h2>
    <p id="ticket-status" class="note"></p>
    <table><tbody id="ticket-counters"></tbody></table>
  </section>
  <section id="sessions">
    <h2>Session store</h2>
    <p id="session-status" class="note"></p>
    <table><tbody id="session-counters"></tbody></table>
  </section>
</div>

<script>${STATUS_SCRIPT}</script>
</body>
</html>
`;

async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let binary = "";
  for (const b of digest) binary += String.fromCharCode(b);
  return btoa(binary);
}

let csp: Promise<string> | undefined;

/**
 * The page's Content-Security-Policy: nothing by default; the one inline
 * style and the one inline script by hash; fetches to this origin only; the
 * favicon as a data: URL. Hashed on first use (Workers cannot hash at global
 * scope), then reused by the isolate.
 */
export function statusPageCsp(): Promise<string> {
  csp ??= Promise.all([sha256Base64(STATUS_SCRIPT), sha256Base64(STATUS_STYLE)]).then(([script, style]) =>
    [
      "default-src 'none'",
      `script-src 'sha256-${script}'`,
      `style-src 'sha256-${style}'`,
      "img-src data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  );
  return csp;
}

/**
 * GET /docs: a human-readable API reference rendered on the server from the
 * OpenAPI document. Self-contained HTML (inline CSS, no scripts, no external
 * assets) so it renders offline.
 */
import { ERROR_MEANINGS, type ErrorCode } from "../errors.js";
import { statusOf } from "../http/errors.js";
import type { JsonSchema } from "../http/schema.js";
import type { OpenApiDocument } from "./openapi.js";

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `array of ${typeOf(schema.items ?? {})}`;
  const range = schema.minimum !== undefined ? ` ${schema.minimum}..${schema.maximum}` : schema.maxLength !== undefined ? ` ≤ ${schema.maxLength} chars` : "";
  return `${schema.type ?? "any"}${range}`;
}

function fields(schema: JsonSchema, prefix = ""): string {
  if (!schema.properties) return "";
  const required = new Set<string>(schema.required ?? []);
  return Object.entries(schema.properties)
    .map(([name, s]) => {
      const row = `<tr><td><code>${esc(prefix + name)}</code>${required.has(name) ? "" : " <small>optional</small>"}</td><td>${esc(typeOf(s))}</td><td>${esc(s.description ?? "")}</td></tr>`;
      return row + (s.type === "object" ? fields(s, `${prefix}${name}.`) : "");
    })
    .join("");
}

export function renderDocsPage(doc: OpenApiDocument): string {
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const anchor = esc(op.operationId);
      toc.push(`<li><a href="#${anchor}"><code>${method.toUpperCase()} ${esc(path)}</code></a> ${esc(op.summary)}</li>`);
      const body = op.requestBody?.content?.["application/json"]?.schema;
      const responses = Object.entries(op.responses)
        .map(([status, r]) => `<tr><td>${esc(status)}</td><td>${esc(r.description)}</td></tr>`)
        .join("");
      ops.push(`<section id="${anchor}">
<h2><code>${method.toUpperCase()} ${esc(path)}</code></h2>
<p>${esc(op.summary)}${op.description ? ` ${esc(op.description)}` : ""}</p>
<p>Scope: ${op["x-scopes"] ? op["x-scopes"].map((s) => `<code>${esc(s)}</code>`).join(" or ") : "none (no token needed)"}</p>
${op.parameters?.length ? `<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>schema</th></tr>${op.parameters.map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${esc(typeOf(p.schema))}${p.schema.pattern ? ` <code>${esc(p.schema.pattern)}</code>` : ""}</td></tr>`).join("")}</table>` : ""}
${body ? `<h3>Body</h3><table><tr><th>field</th><th>type</th><th>notes</th></tr>${fields(body)}</table>` : ""}
<h3>Answers</h3><table><tr><th>status</th><th>meaning</th></tr>${responses}</table>
</section>`);
    }
  }
  const errorRows = (Object.entries(ERROR_MEANINGS) as [ErrorCode, string][])
    .map(([code, meaning]) => `<tr><td><code>${esc(code)}</code></td><td>${statusOf(code)}</td><td>${esc(meaning)}</td></tr>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)}: API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{font:13px ui-monospace,monospace;background:#f2f2f5;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#fafafa}section{border-top:2px solid #eee;margin-top:2rem}h2 code{font-size:1.05rem}small{color:#777}
</style></head><body>
<h1>${esc(doc.info.title)} <small>API ${esc(doc.info.version)}</small></h1>
<p>${esc(doc.info.description)}</p>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{"error": {"code", "message"}}</code>. The machine-readable contract is at <a href="/openapi.json"><code>/openapi.json</code></a>.</p>
<h2>Routes</h2><ul>${toc.join("")}</ul>
${ops.join("\n")}
<section id="errors"><h2>Error codes</h2><table><tr><th>code</th><th>status</th><th>meaning</th></tr>${errorRows}</table></section>
</body></html>`;
}

// The V8 inspector of the worker under Miniflare (inspectorPort +
// unsafeInspectorProxy): CPU profiles of a load run, and the isolate's heap.
import WebSocket from "ws";

export async function connectInspector(port, name) {
  let targets = [];
  for (let i = 0; i < 40 && targets.length === 0; i++) {
    try {
      targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
    } catch {}
    if (targets.length === 0) await new Promise((r) => setTimeout(r, 250));
  }
  const target = targets.find((t) => t.title?.includes(name) || t.url?.includes(name)) ?? targets[0];
  if (!target) throw new Error("no inspector target");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  const listeners = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.method) listeners.get(msg.method)?.(msg.params);
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message}`));
      else resolve(msg.result);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, { resolve, reject });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  const on = (method, fn) => listeners.set(method, fn);
  return { send, on, close: () => ws.close() };
}

/**
 * The isolate's live heap in bytes: the sum of the self sizes in a heap
 * snapshot (V8 collects garbage before it takes one). Used instead of
 * HeapProfiler.collectGarbage, which workerd's inspector never answers.
 */
export async function liveHeapBytes(insp) {
  let json = "";
  insp.on("HeapProfiler.addHeapSnapshotChunk", ({ chunk }) => (json += chunk));
  await insp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  insp.on("HeapProfiler.addHeapSnapshotChunk", () => {});
  const snap = JSON.parse(json);
  const fields = snap.snapshot.meta.node_fields;
  const stride = fields.length;
  const at = fields.indexOf("self_size");
  let total = 0;
  for (let i = at; i < snap.nodes.length; i += stride) total += snap.nodes[i];
  return total;
}

/**
 * Maps a line of a bundle to the module it came from, by the `// path`
 * comments esbuild (and so wrangler) writes before each module.
 */
export function moduleMap(bundleSource) {
  const marks = [];
  bundleSource.split("\n").forEach((line, i) => {
    const m = /^\/\/ (\S+\.(?:ts|js|mjs))$/.exec(line);
    if (m) marks.push([i, m[1].replace(/^(\.\.\/)+work\/main\//, "").replace(/^.*node_modules\//, "")]);
  });
  return (line) => {
    let found = "(bundle)";
    for (const [at, name] of marks) {
      if (at > line) break;
      found = name;
    }
    return found;
  };
}

/**
 * Self time from a V8 CPU profile, by function and by module (native
 * functions, GC, idle and "(program)" by name): { total, busy, functions, modules }.
 */
export function selfTimes(profile, moduleOf = () => "(script)") {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fns = new Map();
  const mods = new Map();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const cf = byId.get(profile.samples[i]).callFrame;
    const name = cf.functionName || "(anonymous)";
    const module = cf.url ? moduleOf(cf.lineNumber) : name.startsWith("(") ? name : "(native)";
    const key = `${name}\t${module}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
    fns.set(key, (fns.get(key) ?? 0) + dt);
    mods.set(module, (mods.get(module) ?? 0) + dt);
    total += dt;
    if (name === "(idle)") idle += dt;
  }
  const sorted = (m) => [...m].map(([k, ms]) => ({ key: k, ms })).sort((a, b) => b.ms - a.ms);
  return {
    total,
    busy: total - idle,
    functions: sorted(fns).map(({ key, ms }) => {
      const [name, where] = key.split("\t");
      return { name, where, ms };
    }),
    modules: sorted(mods).map(({ key, ms }) => ({ module: key, ms })),
  };
}

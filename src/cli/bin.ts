#!/usr/bin/env node
// The standalone CLI: `npm run build:cli` bundles this file into dist/esr.mjs,
// one file with no dependencies but Node 20, to copy to a proxy host.
import { run } from "./main.js";

await run();

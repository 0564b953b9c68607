-- PUT /v1/sessions/{id} with a fresh random id on every request: each one is
-- a new session (the 409 check reads the id, finds nothing, and the session is
-- written to KV and the internal cache), never the idempotent re-PUT of one
-- already stored. The body (BENCH_BODY_FILE) is the same for every request.
-- From the environment: BENCH_TOKEN, BENCH_BODY_FILE, BENCH_WRK_DIR. One Lua
-- call per request (the id), which the other scripts avoid.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
local headers = { ["content-type"] = "application/json", ["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") }
local counter = 0

function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 30))
end

function init(args)
  math.randomseed(seed or os.time())
end

function request()
  counter = counter + 1
  local id = string.format("%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), counter, math.random(0, 0x7fffffff))
  return wrk.format("PUT", "/v1/sessions/" .. id, headers, body)
end

dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

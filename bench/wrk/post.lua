-- POST a fixed JSON body (POST /v1/tickets/open with a ticket sealed
-- beforehand, POST /v1/tickets with the reference session). From the
-- environment: BENCH_BODY_FILE (the body), BENCH_TOKEN (bearer token),
-- BENCH_WRK_DIR (this directory). The request is built once: wrk sends the
-- same bytes on every request, with no Lua call per request.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

-- GET the URL's path (GET /healthz; GET /v1/sessions/{id} for one id), or,
-- with BENCH_IDS_FILE (one session id a line), GET <BENCH_PATH_PREFIX><id>
-- for the ids in turn, each connection starting at its own offset.
-- BENCH_TOKEN, when set, is sent as a bearer token.
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["authorization"] = "Bearer " .. token end

local idsFile = os.getenv("BENCH_IDS_FILE")
if idsFile and idsFile ~= "" then
  local ids = {}
  for line in io.lines(idsFile) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  local prefix = os.getenv("BENCH_PATH_PREFIX")
  local random = os.getenv("BENCH_IDS_ORDER") == "random"
  local i = 0
  math.randomseed(os.time())
  request = function()
    if random then i = math.random(#ids) else i = (i % #ids) + 1 end
    return wrk.format("GET", prefix .. ids[i])
  end
end
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

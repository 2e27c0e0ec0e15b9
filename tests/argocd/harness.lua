-- Runs an Argo CD health script the way Argo CD does: the object is the global `obj`, the
-- script's chunk returns {status=..., message=...}.
--   lua5.1 harness.lua HEALTH.lua OBJECT.json   -> prints "STATUS\tMESSAGE"
local cjson = require("cjson")
-- Argo CD hands the script Lua tables without JSON nulls; drop them the same way.
local function strip_nulls(v)
  if type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    if x ~= cjson.null then
      out[k] = strip_nulls(x)
    end
  end
  return out
end
local script, path = arg[1], arg[2]
local f = assert(io.open(path, "r"))
local text = f:read("*a")
f:close()
obj = strip_nulls(cjson.decode(text))
local chunk = assert(loadfile(script))
local hs = chunk()
assert(type(hs) == "table", "health script returned no table")
assert(type(hs.status) == "string", "health script returned no status")
io.write(hs.status, "\t", tostring(hs.message), "\n")

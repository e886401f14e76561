-- wrk script for reader.py --soak: a mix of uncached reader requests, in turn.
-- MIXED_PATHS: anonymous paths separated by spaces; MIXED_SIGNED_IN: paths asked with the cookie
-- in MIXED_COOKIE, one request in five. Prints the same WRK_RESULT line as report.lua.
local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "%S+") do items[#items + 1] = item end
  return items
end

local paths, signed_in, cookie
local counter = 0

function init(args)
  paths = split(os.getenv("MIXED_PATHS"))
  signed_in = split(os.getenv("MIXED_SIGNED_IN"))
  cookie = os.getenv("MIXED_COOKIE") or ""
end

function request()
  counter = counter + 1
  if #signed_in > 0 and counter % 5 == 0 then
    local path = signed_in[math.floor(counter / 5) % #signed_in + 1]
    return wrk.format("GET", path, { ["Cookie"] = cookie })
  end
  return wrk.format("GET", paths[counter % #paths + 1])
end

-- The WRK_RESULT line, from the script every other row uses.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

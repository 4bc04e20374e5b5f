-- wrk script: every request accepts its own invitation with its own customer's bearer.
-- Thread k of n takes lines k, k+n, k+2n... of pairs.txt. When a thread runs out it asks for
-- /exhausted, which answers 404, so an exhausted run shows as non-2xx and is rerun larger.
local threads = {}
local n = 0

function setup(thread)
  thread:set("k", n)
  table.insert(threads, thread)
  n = n + 1
end

function init(args)
  pairs_ = {}
  local step = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % step == k then
      local bearer, token = line:match("(%S+) (%S+)")
      table.insert(pairs_, { bearer, token })
    end
    i = i + 1
  end
  next_ = 1
end

function request()
  local p = pairs_[next_]
  next_ = next_ + 1
  if not p then
    return wrk.format("GET", "/exhausted")
  end
  return wrk.format("POST", "/api/v1/invitations/accept",
    { ["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json" },
    '{"token":"' .. p[2] .. '"}')
end

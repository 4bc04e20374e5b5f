-- wrk script: every request places a new order of one item (quantity 1) with the direct
-- partner's bearer, for the customers of order.txt in turn (its first line is the offer id).
-- Usage: wrk ... -s bench/order.lua URL -- ORDER_TXT BEARER
local threads = {}
local n = 0

function setup(thread)
  thread:set("k", n)
  table.insert(threads, thread)
  n = n + 1
end

function init(args)
  customers = {}
  for line in io.lines(args[1]) do
    if offer == nil then offer = line else table.insert(customers, line) end
  end
  bearer = args[2]
  body = '{"items":[{"offer_id":"' .. offer .. '","quantity":1}]}'
  next_ = k -- threads start on different customers
end

function request()
  local c = customers[next_ % #customers + 1]
  next_ = next_ + 1
  return wrk.format("POST", "/api/v1/customers/" .. c .. "/orders",
    { ["Authorization"] = "Bearer " .. bearer, ["Content-Type"] = "application/json" }, body)
end

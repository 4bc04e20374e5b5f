-- wrk script: every request creates an open invitation (an empty body: the defaults) with the
-- partner's bearer.   Usage: wrk ... -s bench/invite.lua URL -- BEARER
function init(args)
  bearer = args[1]
end

function request()
  return wrk.format("POST", "/api/v1/invitations",
    { ["Authorization"] = "Bearer " .. bearer, ["Content-Type"] = "application/json" }, "{}")
end

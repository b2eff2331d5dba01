-- A distinct path per request (/api/orders/1, /api/orders/2, …): the decision memo cannot
-- key on the exact path, only on which of the policies' path tests (`like`, `==`) it passes
-- (docs/policy.md, "decision memo"), so this measures the memo's abstract keys.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/orders/" .. n)
end

-- wrk script of bench/secrets.sh: KV v2 reads or writes against a Vault-compatible API.
--   wrk -t1 -c32 -d10s -s kv.lua https://127.0.0.1:P -- read|write TOKEN_FILE N
-- read:  GET  /v1/secret/data/bench/s<i>                  i uniform in 1..N (all preloaded)
-- write: POST /v1/secret/data/bench/s<i> {"data":{...}}   a new version of a random secret
-- The token is read from a file so that it is not on any command line.
local mode, token, n
local counter = 0

function init(args)
    mode = args[1]
    local f = assert(io.open(args[2], "r"))
    token = f:read("*l")
    f:close()
    n = tonumber(args[3])
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

function request()
    counter = counter + 1
    local path = "/v1/secret/data/bench/s" .. math.random(n)
    if mode == "read" then
        return wrk.format("GET", path, { ["X-Vault-Token"] = token })
    end
    local body = string.format('{"data":{"user":"svc-%d","password":"%08x%08x%016x"}}',
        counter, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), counter)
    return wrk.format("POST", path,
        { ["X-Vault-Token"] = token, ["Content-Type"] = "application/json" }, body)
end

-- wrk script of bench/jwt.sh: every request carries the next token of a file (one per line),
-- so each token is sent once. The thread stops when the file is used up (a few requests
-- already in flight then reuse the first tokens; the report counts them as repeats). Since wrk
-- still waits out -d, its own req/s would be too low: done() prints the responses and the
-- time from the first request to the last response (CLOCK_MONOTONIC through LuaJIT's ffi).
--   wrk -t1 -c50 -d10s -s tokens.lua http://127.0.0.1:P/jwt/ -- TOKENS_FILE
local ffi = require("ffi")
ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
    threads[#threads + 1] = thread
end

tokens = {}
sent = 0
answered = 0
t_first = 0
t_last = 0

function init(args)
    for line in io.lines(args[1]) do
        if #line > 0 then tokens[#tokens + 1] = line end
    end
end

function request()
    if sent == 0 then t_first = now() end
    sent = sent + 1
    local t = tokens[((sent - 1) % #tokens) + 1]
    return wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. t })
end

function response(status, headers, body)
    answered = answered + 1
    t_last = now()
    if answered >= #tokens then wrk.thread:stop() end
end

function done(summary, latency, requests)
    local n, t0, t1, k = 0, nil, nil, 0
    for _, th in ipairs(threads) do
        n = n + th:get("answered")
        k = k + #th:get("tokens")
        local a, b = th:get("t_first"), th:get("t_last")
        if a > 0 and (t0 == nil or a < t0) then t0 = a end
        if t1 == nil or b > t1 then t1 = b end
    end
    io.write(string.format("tokens-run: %d responses in %.6f s, %d tokens\n", n, (t1 or 0) - (t0 or 0), k))
end

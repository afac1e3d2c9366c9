-- wrk script: create COUNT sleep tasks (split over the threads), whose
-- durations are spread over SPREAD_MS after BASE_MS, then only GET
-- /healthz. COUNT, BASE_MS and SPREAD_MS come from the environment;
-- CALLBACK, if set, names a callback of the config for every task.
local count = tonumber(os.getenv("COUNT") or "1000000")
local base = tonumber(os.getenv("BASE_MS") or "600000")
local spread = tonumber(os.getenv("SPREAD_MS") or "60000")
local threads = tonumber(os.getenv("THREADS") or "1")
local callback = os.getenv("CALLBACK")
local extra = callback and string.format(',"callback":"%s"', callback) or ""
local made = 0
-- (+1: wrk builds one request before it connects, and never sends it)
local mine = math.floor(count / threads) + 1

request = function()
	if made >= mine then
		return wrk.format("GET", "/healthz")
	end
	made = made + 1
	local body = string.format('{"duration_ms":%d%s}',
		base + (made * 7919) % spread, extra)
	return wrk.format("POST", "/v1/tasks",
		{["Content-Type"] = "application/json"}, body)
end

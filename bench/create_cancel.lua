-- wrk script: create a sleep task, then cancel it; repeat.
-- Each response to a create queues its id; the next request cancels it.
local ids = {}

request = function()
	local id = table.remove(ids)
	if id then
		return wrk.format("DELETE", "/v1/tasks/" .. id)
	end
	return wrk.format("POST", "/v1/tasks",
		{["Content-Type"] = "application/json"},
		'{"duration_ms":3600000}')
end

response = function(status, headers, body)
	if status == 201 then
		local id = body:match('"id":"(%w+)"')
		if id then
			table.insert(ids, id)
		end
	end
end

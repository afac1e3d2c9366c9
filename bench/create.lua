-- wrk script: create one sleep task per request.
wrk.method = "POST"
wrk.body = '{"duration_ms":3600000}'
wrk.headers["Content-Type"] = "application/json"

-- wrk script: long-poll a running task with a 10 ms limit.
-- The task id comes from the environment (TASK_ID).
wrk.method = "GET"
wrk.path = "/v1/tasks/" .. os.getenv("TASK_ID") .. "?wait=0.01"

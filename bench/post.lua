-- wrk script: a small generateContent request, as an SDK would send it.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-goog-api-key"] = "sk-b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nch0123"
wrk.headers["x-gateway-user-id"] = "bench"
wrk.body = '{"contents":[{"role":"user","parts":[{"text":"Summarise the benchmark in one line"}]}],"generationConfig":{"temperature":0.2}}'

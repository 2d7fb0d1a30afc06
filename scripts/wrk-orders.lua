-- wrk script for POST /v1/orders: a unique Idempotency-Key per request, so every request is a
-- new order (a replay would measure the idempotent path instead). Set WRK_KEY to a storefront key.
-- Each wrk thread runs its own copy of this script, with the same math.random sequence and
-- the same os.time(): the thread's number goes into the keys, or the threads would send each
-- other's keys (replays).
local counter = 0
local key = os.getenv("WRK_KEY") or ""
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
local threads = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"customer_id":"c-wrk","currency":"EUR","lines":[{"sku":"LG-0000","quantity":1,"unit_price":100}],"payment":{"token":"tok_visa"}}'

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. tostring(thread_id) .. "-" .. counter
  return wrk.format(nil, "/v1/orders")
end

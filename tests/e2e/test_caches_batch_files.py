"""The real google-genai SDK's context caching (`caches.create` / `update` / `delete`) and a
Batch API job with its results in a file (`files.upload`, `batches.create` / `get`,
`files.download`), through the real gateway in front of the fake upstream. Each checks what
the database stores: the cache's token count and storage intervals, the creation cost, and the
results file metered once at the batch tier.

Rates of gemini-3.8-flash (the shipped price table): input $0.75 and output $3.75 per 1M
tokens in 2026, twice that from 2027 (conftest.FLASH_38), storage $1.00 per 1M token-hours;
batch = 50% of the token rates.
"""

import calendar
import json
import time

import pytest
from google import genai
from google.genai import types

from conftest import FLASH_38, KEY, Stack

(INPUT, _, OUTPUT), STORAGE = FLASH_38, 1.00
HOUR_NS = 3_600_000_000_000


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("caches"))
    yield s
    s.close()


def client(stack):
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=stack.base_url))


def ns(dt):
    return calendar.timegm(dt.utctimetuple()) * 1_000_000_000 + dt.microsecond * 1000


def wait_rows(stack, sql, args, done, what):
    """Rows of `sql`, polled until `done(rows)` (the deadline only bounds the wait)."""
    deadline = time.time() + 20
    while True:
        with stack.db_conn() as c:
            try:
                rows = c.execute(sql, args).fetchall()
            except Exception:
                rows = []
        if done(rows):
            return rows
        assert time.time() < deadline, f"{what}: {rows}"
        time.sleep(0.05)


def close(a, b):
    return abs(a - b) <= max(1e-12, abs(b) * 1e-9)


def test_cache_create_update_delete(own):
    c = client(own)
    cache = c.caches.create(
        model="gemini-3.8-flash",
        config=types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=[types.Part(text="a long shared document " * 30)])],
            system_instruction="answer from the document",
            ttl="3600s",
            display_name="e2e",
        ),
    )
    tokens = cache.usage_metadata.total_token_count
    assert tokens and tokens > 0
    assert ns(cache.expire_time) - ns(cache.create_time) == HOUR_NS
    updated = c.caches.update(name=cache.name, config=types.UpdateCachedContentConfig(ttl="7200s"))
    assert ns(updated.expire_time) - ns(updated.update_time) == 2 * HOUR_NS
    before = time.time_ns()
    c.caches.delete(name=cache.name)
    after = time.time_ns()

    rows = wait_rows(
        own,
        "SELECT tokens, start_unix_nano, end_unix_nano, ended_by, usd_per_mtok_hour, create_seen, model "
        "FROM cache_storage WHERE cache_name = ? ORDER BY id",
        (cache.name,),
        lambda r: len(r) == 2 and r[1][3] == "delete",
        "storage intervals",
    )
    (t1, s1, e1, by1, r1, seen1, m1), (t2, s2, e2, by2, r2, seen2, m2) = rows
    assert (t1, t2) == (tokens, tokens)
    assert (s1, e1, by1) == (ns(cache.create_time), ns(updated.update_time), "ttl_update")
    assert s2 == ns(updated.update_time) and before <= e2 <= after
    assert (r1, r2, seen1, seen2, m1, m2) == (STORAGE, STORAGE, 1, 1, "gemini-3.8-flash", "gemini-3.8-flash")
    # The storage cost of these intervals is checked against the API's report in
    # gateway/tests/caches.rs; here the intervals themselves are.

    # The create is billed as input tokens; the PATCH and DELETE calls are free.
    traces = wait_rows(
        own,
        "SELECT operation, input_tokens, cost_usd, unpriced FROM traces "
        "WHERE operation IN ('create_cache', 'update_cache', 'delete_cache') ORDER BY start_time_unix_nano",
        (),
        lambda r: len(r) == 3,
        "cache traces",
    )
    (op, inp, cost, unpriced) = traces[0]
    assert (op, inp, unpriced) == ("create_cache", tokens, 0)
    assert close(cost, tokens * INPUT / 1e6)
    assert [t[2] for t in traces[1:]] == [0.0, 0.0]


def test_batch_results_file_is_metered_once_on_download(own, tmp_path):
    c = client(own)
    src = tmp_path / "requests.jsonl"
    texts = ["one two three", "four five six seven", "eight nine"]
    src.write_text(
        "".join(
            json.dumps({"key": f"r{i}", "request": {"contents": [{"parts": [{"text": t}]}]}}) + "\n"
            for i, t in enumerate(texts)
        )
    )
    uploaded = c.files.upload(file=str(src), config=types.UploadFileConfig(mime_type="application/jsonl"))
    job = c.batches.create(model="gemini-3.8-flash", src=uploaded.name)
    done = c.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    file_name = done.dest.file_name
    assert file_name

    not_seen = wait_rows(
        own,
        "SELECT s.attributes, t.cost_usd FROM spans s JOIN traces t USING (trace_id) "
        "WHERE s.name LIKE 'fetch_response%' AND json_extract(s.attributes, '$.\"gateway.batch.results\"') = 'not_seen'",
        (),
        lambda r: len(r) == 1,
        "results not seen",
    )
    assert not_seen[0][1] is None, "results not seen: no cost, never $0"

    data = c.files.download(file=file_name)
    again = c.files.download(file=file_name)
    assert data == again
    lines = [json.loads(l) for l in data.decode().splitlines() if l.strip()]
    assert [l["key"] for l in lines] == ["r0", "r1", "r2"]
    usages = [l["response"]["usageMetadata"] for l in lines]
    n = lambda u, k: u.get(k, 0)
    expected = sum(
        0.5 * ((n(u, "promptTokenCount") + n(u, "toolUsePromptTokenCount")) * INPUT
               + (n(u, "candidatesTokenCount") + n(u, "thoughtsTokenCount")) * OUTPUT) / 1e6
        for u in usages
    )
    downloads = wait_rows(
        own,
        "SELECT t.cost_usd, t.input_tokens, json_extract(s.attributes, '$.\"gateway.batch.results\"') "
        "FROM spans s JOIN traces t USING (trace_id) "
        "WHERE json_extract(s.attributes, '$.\"gateway.batch.responses_file\"') = ? "
        "AND json_extract(s.attributes, '$.\"gateway.batch.results\"') IN ('metered', 'already_metered') "
        "ORDER BY s.start_time_unix_nano",
        (file_name,),
        lambda r: len(r) == 2,
        "downloads",
    )
    (cost1, input1, state1), (cost2, input2, state2) = downloads
    assert (state1, state2) == ("metered", "already_metered")
    assert input1 == sum(n(u, "promptTokenCount") for u in usages) and input2 is None
    assert close(cost1, expected) and cost2 == 0.0

"""The load and the analysis of scripts/bench/webhooks (docs/benchmarks.md, "Webhooks against
Svix's method"). Run by that script with a venv holding aiohttp; not a module.

    webhooks_client.py load URL KEY PREFIX EVENTS RATE CONCURRENCY OUT
        Creates EVENTS companies (`POST /api/v1/companies`, one `company.created` event each)
        named `wh PREFIX-INDEX DUE SENT` (epoch seconds: when the create was due, when the
        client started it).
        Open loop when RATE > 0: create i is due at start + i / RATE and sent then, whatever
        the answers before it (latency counts from the due time, so a slow server is not
        hidden by a client that waits for it). Closed loop otherwise: CONCURRENCY creates in
        flight, each due when sent. A push-back (429 or 503 with Retry-After) is counted,
        waited for and the create sent again (at most 20 times), the latency still counting
        from the first due time. Writes a JSON summary to OUT: answers by status, the
        answers' Retry-After, create latency percentiles, how late the client started the
        creates (its own share of every latency), the send window and its rate.

    webhooks_client.py deliveries LOG PREFIX ENDPOINTS EVENTS END
        Reads the receiver's log (`MSEC REQUEST_TIME URI WEBHOOK_ID BODY`, one delivery a line) and
        prints, as shell assignments, for the deliveries of creates named with PREFIX:
        deliveries, distinct (endpoint, webhook-id) pairs, endpoints that got every event
        exactly once, created-to-delivered p50/p90/p99/max in ms (from the due time to the
        receiver's arrival; and p50/p90/p99 from the time the client started the create,
        without its own lateness), the lag at the end (the last arrival after END, the epoch second
        the load stopped) and the delivery rate.
"""

import asyncio
import json
import re
import sys
import time


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (q in 0..100); None when empty."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def load(url, key, prefix, events, rate, concurrency, out):
    import aiohttp

    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    statuses = {}
    retry_after = {}
    latencies = []
    late = []
    limit = concurrency if rate <= 0 else 0
    connector = aiohttp.TCPConnector(limit=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def create(i, due):
            sent = time.time()
            late.append((sent - due) * 1000)
            body = json.dumps({"name": f"wh {prefix}-{i} {due:.6f} {sent:.6f}"})
            for _ in range(MAX_TRIES):
                wait = None
                try:
                    async with session.post(f"{url}/api/v1/companies", data=body,
                                            headers=headers) as answer:
                        await answer.read()
                        status = str(answer.status)
                        wait = answer.headers.get("retry-after")
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    status = f"error:{type(e).__name__}"
                # A push-back (429 or 503 with Retry-After): counted, waited, sent again, as
                # Svix's client does; the latency still counts from the first due time.
                if status in ("429", "503") and wait is not None and wait.isdigit():
                    status += " Retry-After"
                    retry_after[wait] = retry_after.get(wait, 0) + 1
                    statuses[status] = statuses.get(status, 0) + 1
                    await asyncio.sleep(int(wait))
                    continue
                break
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append((time.time() - due) * 1000)

        start = time.time() + 0.2
        if rate > 0:
            tasks = []
            for i in range(events):
                due = start + i / rate
                # asyncio's timers wake up to 1 ms late (epoll's millisecond timeout): wake
                # half a millisecond early.
                delay = due - time.time() - 0.0005
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(create(i, due)))
            await asyncio.gather(*tasks)
        else:
            counter = iter(range(events))

            async def worker():
                for i in counter:
                    await create(i, time.time())

            await asyncio.sleep(max(0.0, start - time.time()))
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = time.time()
    latencies.sort()
    late.sort()
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    summary = {
        "start": start, "end": end, "statuses": statuses, "retry_after": retry_after,
        "ok": ok, "rate": ok / (end - start),
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "late_p50_ms": percentile(late, 50), "late_p99_ms": percentile(late, 99),
    }
    with open(out, "w") as f:
        json.dump(summary, f)


MAX_TRIES = 20

LINE = re.compile(r'^(\d+\.\d+) (\d+\.\d+) (\S+) (\S+) .*?wh (\S+)-(\d+) (\d+\.\d+) (\d+\.\d+)')


def deliveries(log, prefix, endpoints, events, end):
    seen = {}
    latencies = []
    from_sent = []
    count = 0
    first = last = None
    with open(log) as f:
        for line in f:
            m = LINE.match(line)
            if not m or m.group(5) != prefix:
                continue
            # The request's first byte: the log's time less the request's duration. nginx's
            # times are whole milliseconds (truncated): the arrival is taken at the middle of
            # its millisecond.
            arrival = float(m.group(1)) - float(m.group(2)) + 0.0005
            uri, webhook_id = m.group(3), m.group(4)
            due, sent = float(m.group(7)), float(m.group(8))
            count += 1
            seen.setdefault(uri, {})
            seen[uri][webhook_id] = seen[uri].get(webhook_id, 0) + 1
            latencies.append((arrival - due) * 1000)
            from_sent.append((arrival - sent) * 1000)
            first = arrival if first is None else min(first, arrival)
            last = arrival if last is None else max(last, arrival)
    latencies.sort()
    from_sent.sort()
    exact = sum(1 for ids in seen.values()
                if len(ids) == events and all(n == 1 for n in ids.values()))
    distinct = sum(len(ids) for ids in seen.values())
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    print(f"delivered={count}")
    print(f"distinct={distinct}")
    print(f"endpoints_seen={len(seen)}")
    print(f"endpoints_exact={exact}")
    print(f"lat_p50={fmt(percentile(latencies, 50))}")
    print(f"lat_p90={fmt(percentile(latencies, 90))}")
    print(f"lat_p99={fmt(percentile(latencies, 99))}")
    print(f"lat_max={fmt(latencies[-1] if latencies else None)}")
    for q in (50, 90, 99):
        print(f"sent_p{q}={fmt(percentile(from_sent, q))}")
    print(f"lag_end={fmt(None if last is None else (last - end) * 1000)}")
    span = (last - first) if count > 1 else 0
    print(f"delivery_rate={fmt(count / span if span > 0 else None)}")
    print(f"last_arrival={last or 0}")


def main(argv):
    if len(argv) == 9 and argv[1] == "load":
        _, _, url, key, prefix, events, rate, concurrency, out = argv
        asyncio.run(load(url, key, prefix, int(events), float(rate), int(concurrency), out))
    elif len(argv) == 7 and argv[1] == "deliveries":
        _, _, log, prefix, endpoints, events, end = argv
        deliveries(log, prefix, int(endpoints), int(events), float(end))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

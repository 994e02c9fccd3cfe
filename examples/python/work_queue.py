"""A reliable work queue: producers LPUSH; a worker moves a job to its own processing list
with BLMOVE (so a crash loses nothing), and removes it once done. (Not named queue.py: that
would shadow the standard library's queue, which redis-py imports.)

    python3 examples/python/work_queue.py [--port 8080]
"""
import argparse
import json

import redis


def produce(r, job):
    r.lpush("jobs", json.dumps(job))


def work_one(r, worker, handle, timeout=1):
    processing = f"jobs:processing:{worker}"
    raw = r.blmove("jobs", processing, timeout, "RIGHT", "LEFT")
    if raw is None:
        return False
    handle(json.loads(raw))
    r.lrem(processing, 1, raw)
    return True


def recover(r, worker):
    """Puts back what a crashed worker had taken."""
    processing = f"jobs:processing:{worker}"
    while r.lmove(processing, "jobs", "RIGHT", "RIGHT") is not None:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    r = redis.Redis(port=ap.parse_args().port, decode_responses=True)
    r.delete("jobs", "jobs:processing:w1")
    for i in range(3):
        produce(r, {"id": i})
    done = []
    assert work_one(r, "w1", lambda job: done.append(job["id"]))
    # A worker that takes a job and dies: the job waits in its processing list.
    r.blmove("jobs", "jobs:processing:w1", 1, "RIGHT", "LEFT")
    recover(r, "w1")
    while work_one(r, "w1", lambda job: done.append(job["id"]), timeout=0.1):
        pass
    assert sorted(done) == [0, 1, 2], done  # each job once, in order of arrival
    assert done == [0, 1, 2], done
    assert r.llen("jobs:processing:w1") == 0
    print("queue: ok")


if __name__ == "__main__":
    main()

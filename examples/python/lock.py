"""A lock with a lease: SET NX PX takes it with a random token; only the holder's token
releases it (a Lua script compares and deletes in one step).

    python3 examples/python/lock.py [--port 8080]
"""
import argparse
import secrets

import redis

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def acquire(r, name, lease_ms=10_000):
    token = secrets.token_hex(16)
    return token if r.set(f"lock:{name}", token, nx=True, px=lease_ms) else None


def release(r, name, token):
    return r.eval(RELEASE, 1, f"lock:{name}", token) == 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    r = redis.Redis(port=ap.parse_args().port, decode_responses=True)
    r.delete("lock:report")
    mine = acquire(r, "report")
    assert mine is not None
    assert acquire(r, "report") is None  # held
    assert not release(r, "report", "not-the-token")  # only the holder releases
    assert release(r, "report", mine)
    theirs = acquire(r, "report", lease_ms=50)
    assert theirs is not None
    print("lock: ok")


if __name__ == "__main__":
    main()

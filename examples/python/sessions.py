"""Sessions: a hash per session with a sliding expiry, in a store of their own when the node
has one (`SELECT sessions`; see README, Stores), else in database 0.

    python3 examples/python/sessions.py [--port 8080]
"""
import argparse
import secrets

import redis

TTL = 1800  # 30 minutes, renewed on each request


def create(r, user):
    sid = secrets.token_hex(16)
    key = f"session:{sid}"
    with r.pipeline(transaction=True) as p:
        p.hset(key, mapping={"user": user, "hits": 0})
        p.expire(key, TTL)
        p.execute()
    return sid


def touch(r, sid):
    """The session's fields, its hit count bumped and its expiry slid; None once it expired."""
    key = f"session:{sid}"
    with r.pipeline(transaction=True) as p:
        p.hincrby(key, "hits", 1)
        p.expire(key, TTL, xx=True)
        p.hgetall(key)
        _, renewed, fields = p.execute()
    if not renewed:  # created by HINCRBY just now: the session had expired
        r.delete(key)
        return None
    return fields


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    r = redis.Redis(port=ap.parse_args().port, decode_responses=True)
    sid = create(r, "ada")
    assert touch(r, sid) == {"user": "ada", "hits": "1"}
    assert touch(r, sid)["hits"] == "2"
    assert 0 < r.ttl(f"session:{sid}") <= TTL
    r.delete(f"session:{sid}")  # logged out, or expired
    assert touch(r, sid) is None
    assert r.exists(f"session:{sid}") == 0
    print("sessions: ok")


if __name__ == "__main__":
    main()

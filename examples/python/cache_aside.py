"""Cache-aside: read the cache first; on a miss, load from the source of truth and cache it
with a TTL. Writes go to the source, then drop the cached copy.

    python3 examples/python/cache_aside.py [--port 8080]
"""
import argparse
import json

import redis

# Stands in for a database.
USERS = {"42": {"name": "Ada", "plan": "pro"}}
LOADS = []


def load_user(user_id):
    LOADS.append(user_id)
    return USERS.get(user_id)


def get_user(r, user_id, ttl=300):
    key = f"user:{user_id}"
    cached = r.get(key)
    if cached is not None:
        return json.loads(cached)
    user = load_user(user_id)
    if user is not None:
        r.set(key, json.dumps(user), ex=ttl)
    return user


def update_user(r, user_id, fields):
    USERS[user_id].update(fields)
    r.delete(f"user:{user_id}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    r = redis.Redis(port=ap.parse_args().port, decode_responses=True)
    r.delete("user:42")
    assert get_user(r, "42") == {"name": "Ada", "plan": "pro"}
    assert get_user(r, "42")["name"] == "Ada"
    assert LOADS == ["42"], LOADS  # the second read came from the cache
    assert 0 < r.ttl("user:42") <= 300
    update_user(r, "42", {"plan": "team"})
    assert get_user(r, "42")["plan"] == "team"
    assert LOADS == ["42", "42"], LOADS
    print("cache-aside: ok")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes N call records into <data_dir>/calls as `callbox run` leaves them, for the web page's
benchmark (benches/web_dashboard.sh): one JSON file per call in the shape of
src/dialog/call_log.rs's CallRecord (caller, times, end reason, RTP counters, the turns, and
the dialog's outcome and transcript), spread over the last DAYS days, newest now.

    python3 benches/seed_calls.py DATA_DIR [--calls 10000] [--days 60]

Files are private (0600 in a 0700 folder), as the box writes them. No recordings: the list
and the dashboard read the records only. The benchmark checks that the page counts every
record it wrote, so a record this script writes in a shape the box cannot read shows up as a
failed run, not as a fast one.
"""
import argparse
import datetime as dt
import json
import os
import random

OUTCOMES = ["job", "job", "job", "lead", "callback", "callback", "voicemail", "none"]
FIRST = ["Ada", "Ben", "Carla", "Dmitri", "Erin", "Farah", "Gus", "Hana", "Ivan", "June",
         "Kofi", "Lena", "Marco", "Nia", "Omar", "Priya", "Quentin", "Rosa", "Sam", "Tess"]
LAST = ["Brooks", "Okafor", "Diaz", "Ivanov", "Walsh", "Khan", "Moreau", "Sato", "Petrov",
        "Larsen", "Mensah", "Novak", "Rossi", "Adeyemi", "Haddad", "Iyer", "Marlowe", "Vega"]
LINES = [
    ("callbox", "Thanks for calling. What can we help you with today?"),
    ("caller", "My furnace is blowing cold air and it's forty degrees in here."),
    ("callbox", "Sorry to hear that. Is anyone in the home elderly, or a baby?"),
    ("caller", "No, just me and my husband."),
    ("callbox", "What's the address of the home?"),
    ("caller", "Twelve Oak Street, the side door."),
    ("callbox", "We can be there tomorrow between nine and eleven. Does that work?"),
    ("caller", "Yes please."),
    ("callbox", "You're booked. Your confirmation number is four eight two one."),
]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(n, answered, rng):
    call_id = f"bench-{n:06d}@192.168.1.20"
    fragment = "".join(c for c in call_id if c.isalnum() or c == "-")[:24]
    key = answered.strftime("%Y%m%dT%H%M%S.") + f"{answered.microsecond // 1000:03d}Z-{fragment}"
    number = f"+1312555{rng.randrange(10000):04d}"
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    outcome = rng.choice(OUTCOMES)
    turns = LINES[: rng.randrange(3, len(LINES) + 1)]
    length = 8 * len(turns) + rng.randrange(10)
    return key, {
        "key": key,
        "call_id": call_id,
        "caller": {
            "number": number,
            "display_name": name.upper(),
            "presentation": "available",
            "raw": f"\"{name.upper()}\" <sip:{number[2:]}@192.168.1.20>",
        },
        "dialled": "+13125550100",
        "codec": "PCMU",
        "answered_at": iso(answered),
        "ended_at": iso(answered + dt.timedelta(seconds=length)),
        "end_reason": "remote_hangup",
        "digits": [],
        "recording": None,
        "rtp": {"packets_in": 50 * length, "packets_out": 50 * length, "lost": 0, "garbage": 0},
        "turns": [
            {"speaker": "box" if who == "callbox" else "caller", "text": text,
             "start_ms": 8000 * i, "end_ms": 8000 * i + 5000, "barge_in": False}
            for i, (who, text) in enumerate(turns)
        ],
        "dialog": {
            "mode": "speech",
            "outcome": outcome,
            "confirmation_number": "CB-4821" if outcome == "job" else None,
            "caller_hung_up": False,
            "enqueue_failed": False,
            "transcript": [
                {"at": iso(answered + dt.timedelta(seconds=8 * i)), "speaker": who, "text": text}
                for i, (who, text) in enumerate(turns)
            ],
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    calls = os.path.join(args.data_dir, "calls")
    os.makedirs(calls, mode=0o700, exist_ok=True)
    os.chmod(calls, 0o700)
    rng = random.Random(12)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    span = dt.timedelta(days=args.days).total_seconds()
    for n in range(args.calls):
        answered = now - dt.timedelta(seconds=120 + span * n / args.calls)
        key, body = record(n, answered, rng)
        path = os.path.join(calls, key + ".json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=2)
    print(f"seed_calls: {args.calls} call records over {args.days} days in {calls}")


if __name__ == "__main__":
    main()

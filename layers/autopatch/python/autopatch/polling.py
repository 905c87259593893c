"""Waiting inside one invocation: cheaper than a Wait -> Task -> Choice loop per check (about nine history
events and three billed transitions each), and prompt, since the check interval can be short."""

import time

# The simulator replaces this with its virtual clock.
sleep = time.sleep
RESERVE_SECONDS = 5  # left for the last check and the response before the function's timeout


def poll(check, context, interval: float) -> bool:
    """Call check() every interval seconds until it returns True (then True) or the invocation's time is
    nearly spent (then False: the state machine calls again)."""
    while True:
        if check():
            return True
        if context.get_remaining_time_in_millis() / 1000 < interval + RESERVE_SECONDS:
            return False
        sleep(interval)

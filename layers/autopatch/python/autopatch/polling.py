"""Waiting inside one invocation: cheaper than a Wait -> Task -> Choice loop per check (about nine history
events and three billed transitions each), and prompt, since the check interval can be short."""

import time

# The simulator replaces this with its virtual clock.
sleep = time.sleep
RESERVE_SECONDS = 5  # left for the last check and the response before the function's timeout


def poll(check, context, interval: float) -> bool:
    """Call check() every interval seconds until it returns True (then True) or the invocation's time is
    nearly spent (then False: the state machine calls again).

    It never hands back without time having passed: when less than one interval is left before the reserve,
    it sleeps what is left down to the reserve and checks once more. So every invocation that returns False
    spends at least min(interval, remaining - RESERVE_SECONDS) seconds, whatever the interval and the
    function's timeout, and the state machine's loop cannot come round on the same instant."""
    while True:
        if check():
            return True
        spare = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
        if spare >= interval:
            sleep(interval)
            continue
        if spare > 0:
            sleep(spare)
            return bool(check())
        return False

"""The withdrawal guard (pure): one change that would withdraw most of a trigger's instances
is held until it is confirmed or the condition clears.

One input -- an EventSource edited so that it matches nothing, a report, a cluster relabelled
-- can withdraw every add-on a trigger deployed, in every cluster, within a second. The guard
counts, per trigger, the *instances* it would withdraw (desired states: one profile in one
destination cluster) against the instances it has (published or wanted, those going
included). When the count is over the :class:`Bound` (default: more than 50 % *and* more than
5), nothing of that trigger is withdrawn: its desired states and profiles stay published,
each such key is a failure of its own (:class:`~services.manager.decisions.Held`, the hold's
message; the manager logs it once per trigger and hold) that its trigger's status,
``/v1/triggers/{name}``, ``/v1/errors`` and the metrics show, with the numbers, the time it
began and the token that confirms it.

The withdrawals of one change may arrive over several reconciles (one agent's report, then
another cluster's), so they are counted together:
- within :data:`WATCH_WINDOWS` windows after a change of definitions, referenced objects or
  clusters (or the manager's start), whose consequences arrive over the next seconds (agents
  re-evaluate, then report), a trigger's first withdrawal opens a *window* of
  :attr:`Bound.window` seconds: nothing of what goes within it is withdrawn before the
  verdict at its end;
- otherwise the withdrawals follow events (objects deleted, or changed so that they no
  longer match): each is a change of its own, positive knowledge of one object, and proceeds
  at once, however many arrive together. (How many the manager takes in one reconcile
  depends on its load: counting them together would hold or not hold the same deletions by
  chance.)
A trigger with no more instances than :attr:`Bound.minimum` can never be over the bound: its
withdrawals proceed at once, as do those of a trigger that no longer exists (deleting a
trigger is never held) and everything when the guard is off.

A hold ends when
- it is confirmed: the trigger's annotation
  :data:`~shared.api.vocabulary.WITHDRAWAL_CONFIRM_ANNOTATION` equals the hold's token (a
  digest of the trigger, the instances held when it began and that time: a stale annotation
  never approves a later, different withdrawal); everything held proceeds;
- the condition clears: instances come back (wanted again: put as usual); when all are
  back it ends at once, and when what is still going is under the bound and stays so for a
  window (an undo arrives in pieces too), the rest proceeds;
- the trigger is deleted.
While held, a trigger's new withdrawals join the hold (its numbers change in its message);
its additions and updates are never held.

No I/O, no clock but the wall clock given for "since" (injectable), no asyncio.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from services.manager.outputs import DESIRED, Item
from shared.api.vocabulary import WITHDRAWAL_CONFIRM_ANNOTATION

if TYPE_CHECKING:
    from services.manager.planning import TriggerView


WATCH_WINDOWS = 5
"""Windows after a change of definitions or clusters during which withdrawals wait for their
trigger's verdict (a large cluster's agent may take seconds to report what it changed)."""


@dataclass(frozen=True)
class Bound:
    """When a trigger's withdrawals are held: more than ``share`` of its instances *and*
    more than ``minimum`` of them, counted within ``window`` seconds of its first one."""

    share: float = 0.5
    minimum: int = 5
    window: float = 2.0
    enabled: bool = True

    def exceeded(self, going: int, total: int) -> bool:
        return self.enabled and going > self.minimum and going > self.share * total

    def describe(self) -> str:
        return f"more than {self.share:.0%} and more than {self.minimum} of its instances"


@dataclass
class Hold:
    """One trigger's held withdrawal."""

    trigger: str
    kind: str
    since: float  # wall clock, seconds
    token: str
    going: int  # instances held
    total: int  # instances the trigger has (those held included)
    message: str = ""


class Settled(NamedTuple):
    """What a verdict changed: the items that proceed (each with the loop time it went),
    and the held items whose hold's message changed (to be looked at again)."""

    proceed: list[tuple[Item, float]]
    refresh: list[Item]


def confirmation(view: object) -> str:
    """The trigger's confirmation annotation ("" when absent or when the view does not
    carry the trigger's annotations)."""
    annotations = getattr(view, "annotations", None)
    if not isinstance(annotations, Mapping):
        return ""
    return str(annotations.get(WITHDRAWAL_CONFIRM_ANNOTATION, "") or "")


def token_of(kind: str, trigger: str, keys: Iterable[str], since: float) -> str:
    """The token that confirms one hold (hex, 12 characters)."""
    digest = hashlib.blake2b(digest_size=6)
    digest.update(f"{kind}/{trigger}@{since:.6f}".encode())
    for key in sorted(keys):
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()


def hold_message(hold: Hold, bound: Bound) -> str:
    """The status line of a hold (the same for each of its keys)."""
    since = datetime.fromtimestamp(hold.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"withdrawal of {hold.going} of {hold.total} instances held since {since} (one change "
        f"would withdraw {bound.describe()}): nothing of it is withdrawn until it is "
        f"confirmed with `kubectl annotate {hold.kind.lower()} {hold.trigger} "
        f"{WITHDRAWAL_CONFIRM_ANNOTATION}={hold.token} --overwrite`, or until the instances "
        "come back (undo the change that withdrew them)"
    )


_MESSAGE = re.compile(
    r"^withdrawal of (?P<going>\d+) of (?P<total>\d+) instances held since (?P<since>\S+) "
    rf".*{re.escape(WITHDRAWAL_CONFIRM_ANNOTATION)}=(?P<token>[0-9a-f]+) "
)


def parse_message(text: str) -> dict[str, str | int] | None:
    """The numbers of a :func:`hold_message` (None for any other text)."""
    match = _MESSAGE.match(text)
    if match is None:
        return None
    return {
        "instances": int(match["going"]),
        "of": int(match["total"]),
        "since": match["since"],
        "token": match["token"],
        "annotation": WITHDRAWAL_CONFIRM_ANNOTATION,
    }


@dataclass
class Guard:
    """The guard's record: instances per trigger, withdrawals waiting for their verdict,
    holds. Owned by the publication (event loop); every method is synchronous."""

    bound: Bound = field(default_factory=Bound)
    clock: Callable[[], float] = time.time
    #: every trigger by name as of the latest reconcile (absent: deleted)
    triggers: Mapping[str, TriggerView] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: {"held": 0, "confirmed": 0, "cleared": 0, "deleted": 0}
    )

    def __post_init__(self) -> None:
        self._instances: dict[str, set[str]] = {}  # trigger -> desired keys
        self._key_trigger: dict[str, str] = {}  # desired key -> trigger
        self._going: dict[str, dict[Item, float]] = {}  # trigger -> item -> when it went
        self._item_trigger: dict[Item, str] = {}
        self._windows: dict[str, float] = {}  # trigger -> end of its window (loop time)
        #: held triggers under the bound again: the key that waits for the window's end
        self._timers: dict[str, Item] = {}
        self._later: list[Item] = []  # keys to look at again at the next verdicts
        self._watch_until = -math.inf  # windows open until then (loop time)
        self._touched: set[str] = set()
        self.holds: dict[str, Hold] = {}

    # -- what each trigger has ---------------------------------------------------------------
    def track(self, key: str, trigger: str) -> None:
        """Desired ``key`` (published or wanted) is an instance of ``trigger``."""
        old = self._key_trigger.get(key)
        if old == trigger:
            return
        if old is not None:
            self._instances[old].discard(key)
        self._key_trigger[key] = trigger
        self._instances.setdefault(trigger, set()).add(key)

    def untrack(self, key: str) -> None:
        """Desired ``key`` is neither published nor wanted any more."""
        trigger = self._key_trigger.pop(key, None)
        if trigger is not None:
            keys = self._instances[trigger]
            keys.discard(key)
            if not keys:
                del self._instances[trigger]

    def instances(self, trigger: str) -> int:
        return len(self._instances.get(trigger, ()))

    def watch(self, now: float) -> None:
        """Definitions or clusters changed (or the manager started): their consequences
        arrive over the next seconds (agents re-evaluate, then report): for
        :data:`WATCH_WINDOWS` windows, each trigger's withdrawals wait for its verdict until
        its window (from its first one) is over."""
        self._watch_until = now + WATCH_WINDOWS * self.bound.window

    # -- withdrawals -------------------------------------------------------------------------
    def withdraw(self, item: Item, trigger: str | None, now: float) -> bool:
        """``item`` (published) is no longer wanted. True: the guard takes it (it waits for
        its trigger's verdict); False: it proceeds at once (no trigger, a deleted trigger,
        a trigger too small to be over the bound, the guard off)."""
        if not self.bound.enabled or trigger is None or trigger not in self.triggers:
            return False
        if trigger not in self.holds and trigger not in self._windows:
            if self.instances(trigger) <= self.bound.minimum:
                return False  # can never be over the bound
            if now >= self._watch_until:
                return False  # an event's withdrawal: a change of its own
            self._windows[trigger] = now + self.bound.window
        self._going.setdefault(trigger, {}).setdefault(item, now)
        self._item_trigger[item] = trigger
        self._touched.add(trigger)
        return True

    def discard(self, item: Item) -> None:
        """``item`` is wanted again, or gone: it no longer waits and is no longer held."""
        trigger = self._item_trigger.pop(item, None)
        if trigger is None:
            return
        going = self._going[trigger]
        del going[item]
        if not going:
            del self._going[trigger]
        elif self._timers.get(trigger) == item:  # another key waits for the window's end
            self._timers[trigger] = min(going)
            self._later.append(self._timers[trigger])
        self._touched.add(trigger)

    def waiting(self, item: Item, now: float) -> float | None:
        """Seconds ``item`` still waits for its trigger's verdict (0: it is due now; None:
        it does not wait: held, or not the guard's)."""
        trigger = self._item_trigger.get(item)
        if trigger is None:
            return None
        if trigger in self.holds and self._timers.get(trigger) != item:
            return None  # held: only the key of a clearing window waits (for its end)
        if trigger in self._windows:
            return max(0.0, self._windows[trigger] - now)
        return None

    def trigger_of(self, item: Item) -> str | None:
        """The trigger whose verdict ``item`` waits for, or whose hold holds it."""
        return self._item_trigger.get(item)

    def hold_of(self, item: Item) -> Hold | None:
        trigger = self._item_trigger.get(item)
        return self.holds.get(trigger) if trigger is not None else None

    def held_instances(self) -> int:
        return sum(h.going for h in self.holds.values())

    def waiting_count(self) -> int:
        """Withdrawals waiting for their trigger's verdict (its window is open)."""
        return sum(len(self._going.get(t, ())) for t in self._windows)

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """The guard's metrics (the manager's ``/metrics``, prefix ``ripple_manager_``)."""
        return {
            "withdrawals_held_total": (
                "counter",
                "Mass withdrawals held by the withdrawal guard (one per trigger and hold)",
                self.stats["held"],
            ),
            "withdrawals_confirmed_total": (
                "counter",
                "Held withdrawals that proceeded, confirmed by the trigger's annotation",
                self.stats["confirmed"],
            ),
            "withdrawals_cleared_total": (
                "counter",
                "Holds that ended unconfirmed: instances came back, the share fell under the "
                "bound, or the trigger was deleted",
                self.stats["cleared"] + self.stats["deleted"],
            ),
            "withdrawals_held_triggers": (
                "gauge",
                "Triggers whose withdrawal the guard holds now",
                len(self.holds),
            ),
            "withdrawals_held_instances": (
                "gauge",
                "Instances (desired states) whose withdrawal the guard holds now",
                self.held_instances(),
            ),
            "withdrawals_waiting": (
                "gauge",
                "Withdrawals waiting for their trigger's verdict (within its window)",
                self.waiting_count(),
            ),
        }

    # -- verdicts ----------------------------------------------------------------------------
    def settle(self, now: float, only: str | None = None) -> Settled:
        """The verdict of every trigger touched since the last call, or held, whose window
        is over (of ``only`` when given)."""
        names = {only} if only is not None else self._touched | set(self.holds)
        out = Settled([], [])
        if only is None:  # keys to look at again go with a reconcile's verdicts
            out.refresh.extend(self._later)
            self._later = []
        for trigger in sorted(names):
            end = self._windows.get(trigger)
            if end is not None and end > now and trigger in self._going:
                continue
            self._touched.discard(trigger)
            self._verdict(trigger, now, end is not None and end <= now, out)
        return out

    def _verdict(self, trigger: str, now: float, window_over: bool, out: Settled) -> None:
        going = self._going.get(trigger, {})
        hold = self.holds.get(trigger)
        view = self.triggers.get(trigger)
        desired = {key for bucket, key in going if bucket == DESIRED}
        count, total = len(desired), self.instances(trigger)
        self._windows.pop(trigger, None)
        timer = self._timers.pop(trigger, None)
        if view is None:
            self._release(trigger, out, "deleted" if hold else None)
        elif hold is not None and confirmation(view) == hold.token:
            self._release(trigger, out, "confirmed")
        elif self.bound.exceeded(count, total):
            if timer is not None:  # over the bound again: its key shows the hold again
                out.refresh.append(timer)
            if hold is None:
                since = self.clock()
                token = token_of(view.kind, trigger, desired, since)
                hold = self.holds[trigger] = Hold(trigger, view.kind, since, token, 0, 0)
                self.stats["held"] += 1
            if hold.going != count:  # the numbers its keys show change with it
                hold.going, hold.total = count, total
                hold.message = hold_message(hold, self.bound)
                out.refresh.extend(going)
        elif hold is not None and going and not window_over:
            # under the bound while instances come back (an undo reaches the manager in
            # pieces): the rest proceeds only if it stays so for a window
            self._windows[trigger] = now + self.bound.window
            self._timers[trigger] = timer = min(going)
            out.refresh.append(timer)
        else:
            self._release(trigger, out, "cleared" if hold else None)

    def _release(self, trigger: str, out: Settled, why: str | None) -> None:
        """Everything ``trigger`` has going proceeds (``why``: the hold that ends)."""
        if why is not None:
            self.stats[why] += 1
        self.holds.pop(trigger, None)
        for item, went in self._going.pop(trigger, {}).items():
            del self._item_trigger[item]
            out.proceed.append((item, went))


__all__ = [
    "Bound",
    "Guard",
    "Hold",
    "Settled",
    "confirmation",
    "hold_message",
    "parse_message",
    "token_of",
]

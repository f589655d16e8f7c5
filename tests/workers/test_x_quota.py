"""X's 24-hour post limits and its depleted pay-per-use credits hold an account's posts until
the reset, through the publisher: on the embedded profile (in-process runner and ticker, on
SQLite and PostgreSQL) and on the production one (two `hub worker` processes and beat on Redis
and PostgreSQL), against the X contract server keeping the counters.

The account is never disabled or paused (nothing needs fixing): its target is ``deferred``
until the reset with the channel's reason, its later targets wait without calling X, and
publishing resumes by itself once the counter resets.

The app's 24-hour counter is shared by every account posting through the same X app (the same
consumer key): spent through one account, it holds the app's other accounts too, without a
call to X, and never the accounts of another app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from tests.conftest import ClientFactory, bearer, make_settings
from tests.contract import x as xa
from tests.contract._server import ContractState, serve
from tests.hub.publishing.scenarios import (
    POLICY_OFF,
    PUBLISHING_FAST,
    Channels,
    Hub,
    transitions,
)
from tests.workers.test_publish_workers import Deployment
from tests.workers.test_publish_workers import deployment as deployment  # the fixture


@dataclass(frozen=True)
class User:
    """Credentials of one X user of one app, as the contract server knows them."""

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str

    @property
    def config(self) -> dict[str, str]:
        return {
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "access_token": self.access_token,
            "access_token_secret": self.access_token_secret,
        }

    def signed(self, authorization: str) -> bool:
        return f'oauth_token="{self.access_token}"' in authorization


MAIN = User(xa.CONSUMER_KEY, xa.CONSUMER_SECRET, xa.ACCESS_TOKEN, xa.ACCESS_TOKEN_SECRET)
SAME_APP = User(
    xa.CONSUMER_KEY, xa.CONSUMER_SECRET, xa.SECOND_ACCESS_TOKEN, xa.SECOND_ACCESS_TOKEN_SECRET
)
OTHER_APP = User(
    xa.OTHER_CONSUMER_KEY,
    xa.OTHER_CONSUMER_SECRET,
    xa.OTHER_APP_ACCESS_TOKEN,
    xa.OTHER_APP_ACCESS_TOKEN_SECRET,
)


@dataclass
class XHub:
    hub: Hub
    state: ContractState
    usage: xa.Usage
    url: str

    async def account(
        self, policy: dict[str, Any] | None = None, *, name: str = "x", user: User = MAIN
    ) -> int:
        """An X account posting as `user` (an access token and secret of one app)."""
        config = {**user.config, "base_url": self.url}
        body = {"kind": "x", "name": name, "config": config, "policy": policy or {}}
        return int((await self.hub.call("POST", "/channels", 201, json=body))["id"])

    async def share(self, account: int, **kw: Any) -> int:
        made = await self.hub.share(await self.hub.product(), [account], **kw)
        return int(made["id"])

    async def target(self, share_id: int, states: set[str] | None = None) -> dict[str, Any]:
        target: dict[str, Any] = (await self.hub.wait(share_id, states, timeout_s=40))["targets"][0]
        return target

    def tweet_calls(self, user: User | None = None) -> int:
        """Posts asked of X (by `user` only, when given)."""
        return sum(
            1
            for r in self.state.requests
            if r.path == "/2/tweets"
            and (user is None or user.signed(r.headers.get("Authorization", "")))
        )


@asynccontextmanager
async def _x_hub(
    settings: Settings, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[XHub]:
    state, usage = ContractState(), xa.Usage()
    async with serve(xa.create_app(state, usage)) as url:
        client = await client_for(settings)
        made = await new_merchant(client)
        yield XHub(Hub(client, bearer(made.api_key.token), Channels()), state, usage, url)


@pytest.fixture
async def x(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[XHub]:
    """The embedded profile on `backend`."""
    settings = make_settings(
        tmp_path, database_url=backend, policy=POLICY_OFF, publishing=PUBLISHING_FAST
    )
    async with _x_hub(settings, client_for, new_merchant) as made:
        yield made


@pytest.fixture
async def x_production(
    deployment: Deployment, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[XHub]:
    """The production profile: the web app here, two workers and beat in processes."""
    async with _x_hub(deployment.settings, client_for, new_merchant) as made:
        yield made


def _when(target: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(target[key]))


def _at(unix_s: float) -> str:
    return f"{datetime.fromtimestamp(unix_s, UTC):%Y-%m-%d %H:%M:%S} UTC"


async def test_daily_limit_defers_until_the_reset_then_publishes(x: XHub) -> None:
    await _daily_limit_flow(x)


@pytest.mark.slow
async def test_daily_limit_on_celery_workers(x_production: XHub, deployment: Deployment) -> None:
    await _with_logs(_daily_limit_flow(x_production), deployment)


async def _with_logs(flow: Awaitable[None], deployment: Deployment) -> None:
    """Runs ``flow`` on the deployment's workers; a failure carries their recent logs."""
    try:
        await flow
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- logs ---\n{deployment.log_text()[-6000:]}") from None


async def _daily_limit_flow(x: XHub) -> None:
    reset = int(time.time()) + 10  # time for three shares to be made and handled before
    x.usage.user = xa.Window(limit=2, used=1, reset_at=reset)
    # A block leaves the account's bucket empty: at X's documented 100 posts a day its next
    # token would come 14.4 minutes after the reset. At 100 a second the pacing is no part
    # of this test.
    account = await x.account({"rate_count": 100, "rate_window_s": 1.0, "rate_burst": 5})
    first = await x.target(await x.share(account))
    assert first["state"] == "published", first

    held_share = await x.share(account)
    held = await x.target(held_share, {"deferred", "published", "failed"})
    why = f"quota: X 24-hour post limit of the user reached; resumes {_at(reset)}"
    assert (held["state"], held["reason"]) == ("deferred", why), held
    resets = datetime.fromtimestamp(reset, UTC)
    assert abs(_when(held, "due_at") - resets) < timedelta(seconds=2)
    assert held["events"][-1]["details"]["resumes_at"]
    # Not a broken account: active, nothing failed, nobody has to fix it.
    assert (await x.hub.call("GET", f"/channels/{account}"))["status"] == "active"
    # A share made meanwhile waits for the reset too, without calling X.
    calls = x.tweet_calls()
    later_share = await x.share(account)
    waiting = await x.target(later_share, {"deferred", "published", "failed"})
    assert (waiting["state"], waiting["reason"]) == ("deferred", why), waiting
    assert (
        resets - timedelta(seconds=2) <= _when(waiting, "due_at") <= resets + timedelta(seconds=65)
    )
    assert x.tweet_calls() == calls and len(x.state.posts) == 1

    # The counter resets: both go out by themselves, not before.
    done = await x.target(held_share)
    assert done["state"] == "published", done
    assert _when(done, "published_at") >= resets - timedelta(seconds=1)
    assert transitions(done)[-3:] == ["deferred", "publishing", "published"]
    assert (await x.target(later_share))["state"] == "published"
    assert len(x.state.posts) == 3
    # That spent the new window's two posts: the next share waits for the following reset.
    after = await x.target(await x.share(account), {"deferred", "published", "failed"})
    assert after["state"] == "deferred", after
    assert after["reason"] == (
        f"quota: X 24-hour post limit of the user reached; resumes {_at(reset + 86_400)}"
    )
    assert len(x.state.posts) == 3


async def test_depleted_credits_defer_a_day_and_keep_the_account(x: XHub) -> None:
    x.usage.credits = 0
    account = await x.account()
    before = datetime.now(UTC)
    held = await x.target(await x.share(account), {"deferred", "published", "failed"})
    why = (
        "quota: X API credits depleted (402 Payment Required); posting resumes once the "
        "app's credits are topped up, tried again after 24 h"
    )
    assert (held["state"], held["reason"]) == ("deferred", why), held
    due = _when(held, "due_at")
    assert before + timedelta(hours=24) <= due <= datetime.now(UTC) + timedelta(hours=24)
    account_now = await x.hub.call("GET", f"/channels/{account}")
    assert account_now["status"] == "active"  # not disabled: the account needs no fixing
    await asyncio.sleep(1.0)
    assert x.tweet_calls() == 1 and x.state.posts == {}


# The app's 24-hour counter, shared by the accounts of one X app ---------------------------

# At 100 posts a second the accounts' own pacing is no part of these tests.
_FAST = {"rate_count": 100, "rate_window_s": 1.0, "rate_burst": 5}


async def test_app_limit_spent_through_one_account_holds_the_apps_others(x: XHub) -> None:
    await _app_limit_flow(x)


@pytest.mark.slow
async def test_app_limit_on_celery_workers(x_production: XHub, deployment: Deployment) -> None:
    await _with_logs(_app_limit_flow(x_production), deployment)


async def _app_limit_flow(x: XHub) -> None:
    reset = int(time.time()) + 12  # time for three shares to be made and handled before
    x.usage.app = xa.Window(limit=2, used=1, reset_at=reset)
    a = await x.account(_FAST, name="a", user=MAIN)
    b = await x.account(_FAST, name="b", user=SAME_APP)
    first = await x.target(await x.share(a))
    assert first["state"] == "published", first  # the app's last post of the day

    why = f"quota: X 24-hour post limit of the app reached; resumes {_at(reset)}"
    held_share = await x.share(a)
    held = await x.target(held_share, {"deferred", "published", "failed"})
    assert (held["state"], held["reason"]) == ("deferred", why), held
    resets = datetime.fromtimestamp(reset, UTC)
    assert abs(_when(held, "due_at") - resets) < timedelta(seconds=2)

    # B, another account of the same app, waits for the app's reset without calling X.
    b_share = await x.share(b)
    waiting = await x.target(b_share, {"deferred", "published", "failed"})
    assert (waiting["state"], waiting["reason"]) == ("deferred", why), waiting
    assert (
        resets - timedelta(seconds=2) <= _when(waiting, "due_at") <= resets + timedelta(seconds=65)
    )
    assert x.tweet_calls(SAME_APP) == 0 and len(x.state.posts) == 1
    for account in (a, b):  # nothing to fix: both stay active
        assert (await x.hub.call("GET", f"/channels/{account}"))["status"] == "active"

    # The app's counter resets: both go out by themselves, not before.
    done = await x.target(b_share)
    assert done["state"] == "published", done
    assert _when(done, "published_at") >= resets - timedelta(seconds=1)
    assert x.tweet_calls(SAME_APP) == 1
    assert (await x.target(held_share))["state"] == "published"
    assert len(x.state.posts) == 3


async def test_accounts_of_another_app_are_not_held(x: XHub) -> None:
    reset = int(time.time()) + 3600
    x.usage.app = xa.Window(limit=1, reset_at=reset)
    x.usage.apps[xa.OTHER_CONSUMER_KEY] = xa.Window(limit=1, reset_at=reset)
    a = await x.account(_FAST, name="a", user=MAIN)
    other = await x.account(_FAST, name="other", user=OTHER_APP)
    assert (await x.target(await x.share(a)))["state"] == "published"
    held = await x.target(await x.share(a), {"deferred", "published", "failed"})
    assert (held["state"], held["reason"]) == (
        "deferred",
        f"quota: X 24-hour post limit of the app reached; resumes {_at(reset)}",
    ), held

    # The other app's account posts: the first app's spent counter is not its own.
    free = await x.target(await x.share(other))
    assert free["state"] == "published", free
    assert x.tweet_calls(OTHER_APP) == 1
    # Its own app's counter, spent in turn, holds it: the block is keyed by the app.
    spent = await x.target(await x.share(other), {"deferred", "published", "failed"})
    assert spent["state"] == "deferred" and "of the app reached" in spent["reason"], spent
    assert x.tweet_calls(OTHER_APP) == 2 and len(x.state.posts) == 2

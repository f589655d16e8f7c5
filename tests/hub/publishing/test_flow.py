"""Every publishing scenario on the embedded profile: the in-process runner and its ticker,
on SQLite and on PostgreSQL, against contract servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from tests.conftest import ClientFactory, bearer, make_settings
from tests.hub.publishing.flows import FLOWS, Flow
from tests.hub.publishing.scenarios import POLICY_OFF, PUBLISHING_FAST, Hub, contract_servers


@pytest.fixture
def embedded(tmp_path: Path, backend: str) -> Settings:
    return make_settings(
        tmp_path, database_url=backend, policy=POLICY_OFF, publishing=PUBLISHING_FAST
    )


@pytest.fixture
async def hub(
    embedded: Settings, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[Hub]:
    async with contract_servers() as channels:
        client = await client_for(embedded)
        made = await new_merchant(client)
        yield Hub(client, bearer(made.api_key.token), channels)


@pytest.mark.parametrize("flow", FLOWS.values(), ids=list(FLOWS))
async def test_embedded(hub: Hub, flow: Flow) -> None:
    await flow(hub)

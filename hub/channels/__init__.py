"""Channel accounts and what connectors need from the hub to reach them (shared tokens).

Import the submodules directly: `hub.channels.accounts`, `hub.channels.tokens`.
"""

from __future__ import annotations

__all__: list[str] = []

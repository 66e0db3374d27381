"""Wrong console passwords counted per account name and per client address (``web.sign_in_*``).

Both counters are :class:`app.throttle.SharedThrottle` rows (scopes ``sign-in-account`` and
``sign-in-client``), so every API process serving the console counts the same attempts. The calls
read and write the database: run them off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services import Services
from app.throttle import SharedThrottle


@dataclass(frozen=True)
class SignInThrottle:
    account: SharedThrottle
    client: SharedThrottle

    @classmethod
    def for_services(cls, services: Services) -> SignInThrottle:
        web = services.settings.web

        def one(scope: str, limit: int) -> SharedThrottle:
            return SharedThrottle.configured(
                services.engine,
                services.settings.security,
                services.clock,
                scope=scope,
                limit=limit,
                window=web.sign_in_window_seconds,
            )

        return cls(
            account=one("sign-in-account", web.sign_in_account_failures),
            client=one("sign-in-client", web.sign_in_client_failures),
        )

    def retry_after(self, name: str, address: str) -> float | None:
        waits = [w for w in (self.account.retry_after(name), self.client.retry_after(address)) if w is not None]
        return max(waits) if waits else None

    def failed(self, name: str, address: str) -> None:
        self.account.failed(name)
        self.client.failed(address)

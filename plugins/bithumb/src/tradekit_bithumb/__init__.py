"""tradekit-bithumb: the Bithumb (KRW market) connector for tradekit.

Kept import-light: the command line imports this package on every start.
"""

DEFAULT_BASE_URL = "https://api.bithumb.com"
DEFAULT_WS_URL = "wss://ws-api.bithumb.com/websocket/v1"
BASE_URL_ENV = "TRADEKIT_BITHUMB_BASE_URL"

__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "DEFAULT_WS_URL"]

"""Container liveness check: GET /healthz on this container's server; exit 0 when it answers 200.

Django answers 400 to a Host header it does not allow, so the request names a host from
ALLOWED_HOSTS (the first that is not a pattern) rather than 127.0.0.1. Standard library only.
"""

from __future__ import annotations

import http.client
import os
import sys


def probe_host() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and "*" not in host:
            # ".example.com" allows the domain and its subdomains: the domain itself will do.
            return host.lstrip(".")
    return "localhost"


def main() -> int:
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": probe_host()})
        response = connection.getresponse()
        body = response.read(200)
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"healthz: HTTP {response.status} {body!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

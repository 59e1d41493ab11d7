"""``vitrine serve``: the visual search app (contract §8) over the lake's latest release.

The app (``pipeline.serve.app``) answers the JSON API and serves the web page
(``pipeline/serve/static/``: plain HTML, CSS and JS, no build step) and the release's images.
``pipeline.serve.state`` holds the release in memory and switches releases atomically;
``pipeline.serve.search`` is the pure ranking core (pre-filters, style profile, "no close
match"); ``pipeline.serve.uploads`` checks uploaded photos.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from threadpoolctl import threadpool_limits

    from pipeline.lake import open_lake
    from pipeline.serve.app import create_app
    from pipeline.serve.state import ReleaseHolder
    from pipeline.serve.uploads import Limits

    # Requests are the parallelism: one BLAS thread each (a matrix-vector product split over
    # threads waits on busy cores, 28 ms instead of 0.5 ms at 10k items on a loaded machine).
    threadpool_limits(1, user_api="blas")
    lake = open_lake(args.lake)
    holder = ReleaseHolder(lake, poll_seconds=args.poll_seconds)
    app = create_app(holder, Limits(), max_embeddings=args.max_embeddings)
    log.info("serving the latest release of %s on http://%s:%d/", lake.root, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vitrine serve``."""
    p = subparsers.add_parser("serve", help="serve the visual search app and JSON API for the latest release")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="how often latest.json is checked for a new release (default 30; 0: never)",
    )
    p.add_argument("--max-embeddings", type=int, default=2, help="photos embedded at once (default 2)")
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)

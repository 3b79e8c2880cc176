"""`saasbridge demo` (what `make demo` runs): start the local stack and take the tour."""

from __future__ import annotations

import argparse
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DEMO_SEED = 42


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="start the reference API and the S3 stand-in locally and take a tour",
        description="Start the reference SaaS API (seeded) and the moto server on free loopback ports, run "
        "the tour's sections, then stop both and remove every temporary file.",
    )
    p.add_argument("--scale", type=float, default=1.0, help="data size of the reference API (default 1.0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saasbridge.errors import ConfigError
    from saasbridge.local.processes import start_moto_server, start_reference_api
    from saasbridge.local.tour import TourContext, run_sections

    if not args.scale > 0:
        raise ConfigError(f"--scale must be > 0, got {args.scale}")
    with contextlib.ExitStack() as stack:
        print("Starting the reference SaaS API and the S3 stand-in (moto) on free loopback ports…", flush=True)
        with ThreadPoolExecutor(2) as pool:  # seeding and moto's start-up overlap
            api_future = pool.submit(start_reference_api, scale=args.scale, seed=DEMO_SEED)
            moto_future = pool.submit(start_moto_server)
            for future in (api_future, moto_future):  # register both for stopping before any error surfaces
                with contextlib.suppress(Exception):
                    stack.callback(future.result().stop)
            api, moto = api_future.result(), moto_future.result()
        ctx = TourContext(api_url=api.url, api_key="demo-acme-key", s3_url=moto.url, db_path=api.db_path)
        ran = run_sections(ctx)
        ctx.heading("Done")
        ctx.say(f"Tour sections: {', '.join(ran)}. Both servers are stopped and their temporary files removed.")
    return 0

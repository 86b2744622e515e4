"""``invoke serve``: a bundle, read-only over FTP, for the old PC to fetch.

Thin: ``toolchain.serve`` runs the server; this picks the bundle (given, or
the zip ``build`` wrote for the target).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from toolchain.cli.common import int_option, task
from toolchain.errors import ConfigError


@task(
    help={
        "bundle": "bundle folder or zip to serve (default: dist/retrollama-TARGET.zip)",
        "target": "serve dist/retrollama-TARGET.zip (default win98)",
        "bind": "the ONE address to listen on (default 127.0.0.1: this PC only; give your LAN address)",
        "port": "TCP port (default 2121; 21 needs root)",
    }
)
def serve(c, bundle=None, target=None, bind="127.0.0.1", port="2121"):
    """Serve a bundle read-only over FTP (anonymous, active + passive) and say what to type on Windows 98."""
    from toolchain import package, settings, targets
    from toolchain.serve import serve as run_server

    tcp_port = int_option("port", port)
    if bundle and target:
        raise ConfigError("give --bundle or --target, not both")
    if bundle:
        source = Path(bundle)
    else:
        s = settings.from_layers(c.config.get("retrollama"), target=target)
        source = package.zip_path(settings.anchored(s.out), targets.resolve(s.target)[0].name)
    why = run_server(source, bind, tcp_port)
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"server {why}")

"""Serve Debian's graphite-web on a loopback port, over its own storage directory.

Run by the Debian interpreter that graphite-web is installed for, not by kanaria's (hence no
kanaria import), as `/usr/bin/python3 graphite_web.py <port> <storage dir> <carbonlink port>`.
graphite-web's settings point at /var/lib/graphite; a settings module written here overrides
the paths, so each test server reads only its own whisper files, and the freshest points
straight from its carbon-cache (carbonlink) before they are flushed to disk.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

SETTINGS = """
from graphite.settings import *  # noqa: F403

STORAGE_DIR = {storage!r}
WHISPER_DIR = {storage!r} + "/whisper"
STANDARD_DIRS = [WHISPER_DIR]
LOG_DIR = {storage!r} + "/log"
INDEX_FILE = {storage!r} + "/index"
CARBONLINK_HOSTS = ["127.0.0.1:{carbonlink}:a"]
CARBONLINK_TIMEOUT = 1.0
SECRET_KEY = "graphite-test-server"
DATABASES = {{
    "default": {{"NAME": {storage!r} + "/graphite.db", "ENGINE": "django.db.backends.sqlite3"}}
}}
"""


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    sys.path.pop(0)  # this script's directory: its modules are kanaria's, not graphite's
    port, storage, carbonlink = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    Path(storage, "log").mkdir(parents=True, exist_ok=True)
    Path(storage, "whisper").mkdir(parents=True, exist_ok=True)
    module = Path(storage, "graphite_test_settings.py")
    module.write_text(textwrap.dedent(SETTINGS.format(storage=storage, carbonlink=carbonlink)))
    sys.path.insert(0, storage)
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite_test_settings"

    import django  # noqa: PLC0415  # only after the settings module exists
    from django.core.management import call_command  # noqa: PLC0415
    from django.core.wsgi import get_wsgi_application  # noqa: PLC0415

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    application = get_wsgi_application()
    server = make_server("127.0.0.1", port, application, ThreadingServer, QuietHandler)
    print(f"graphite-web serving on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

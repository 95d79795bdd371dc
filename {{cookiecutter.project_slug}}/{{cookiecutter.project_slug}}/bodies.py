"""Request bodies: forms capped smaller than JSON, and a body the app answered without reading
read to its end before the answer goes, so the proxy in front gets the answer."""

import contextlib
from typing import IO

from flask import Request, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import LimitedStream

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class AppRequest(Request):
    """Flask's request (create_app uses it), with form bodies capped at MAX_FORM_LENGTH:
    Werkzeug reads a urlencoded body whole, and the CSRF check reads it before any view."""

    @property
    def max_content_length(self) -> int | None:
        limit = super().max_content_length
        if self.mimetype in FORM_TYPES:
            cap: int = current_app.config["MAX_FORM_LENGTH"]
            return min(limit, cap) if limit else cap
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value  # as Flask's own setter

    def close(self) -> None:
        """Read what is left of the body before the answer goes. Gunicorn closes the
        connection after each answer; nginx, still sending a body the app refused unread
        (a 413, a 429), then fails to write and answers 502 instead (2-4 of 100 posts of
        900 kB). Bodies over MAX_CONTENT_LENGTH, which nginx refuses itself, stay unread."""
        length = self.content_length
        if length and length <= current_app.config["MAX_CONTENT_LENGTH"]:
            body = self._unread_body(length)
            with contextlib.suppress(HTTPException, OSError):  # the client went: nothing to do
                while body.read(64 * 1024):
                    pass
        super().close()

    def _unread_body(self, length: int) -> IO[bytes] | LimitedStream:
        if "stream" in self.__dict__:  # Werkzeug's stream: it knows how much was read
            return self.stream
        # Never opened, or refused for its length: nothing of it was read.
        return LimitedStream(self.environ["wsgi.input"], length)

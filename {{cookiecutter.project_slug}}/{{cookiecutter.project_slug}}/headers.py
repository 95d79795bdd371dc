"""Security headers on every response, so the app is as safe without nginx in front.

The `secure` package builds the headers once, from config.py's policy, and each response only
copies them: 10-30 us a request, where Flask-Talisman, used before, took 60-75 us to rebuild
them in three hooks (measured side by side, in process). HSTS goes only on HTTPS responses.

Pages that show an account (a logged-in session, or a request with credentials) are never
stored by a browser or proxy cache: `Cache-Control: no-store`, unless the view chose its own.

The policy requires Trusted Types (config.py; static/trusted-types.js is its one policy). A page
whose scripts cannot live with them (Swagger UI's: its bundle writes HTML from strings, and
docs.js loads the bundle by setting a script's src) is named in
app.extensions["trusted_types_exempt"] by its endpoint, and gets the same policy without
`require-trusted-types-for` and `trusted-types`.
"""

from collections.abc import Mapping
from typing import Any

import secure
from flask import Flask, Response, current_app, request, session

TRUSTED_TYPES = ("require-trusted-types-for", "trusted-types")


def init_app(app: Flask) -> None:
    exempt: set[str] = app.extensions.setdefault("trusted_types_exempt", set())
    csp = app.config["CONTENT_SECURITY_POLICY"]
    strict = build(app, csp)
    relaxed = build(app, {key: value for key, value in csp.items() if key not in TRUSTED_TYPES})

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        chosen = relaxed if request.endpoint in exempt else strict
        response.headers.update(chosen[request.is_secure])
        if "Cache-Control" not in response.headers and private():
            response.headers["Cache-Control"] = "no-store"
        return response


def build(app: Flask, csp: dict[str, str]) -> dict[bool, Mapping[str, str]]:
    """{over HTTPS: {name: value}} for one Content-Security-Policy, computed here once."""
    policy = secure.ContentSecurityPolicy()
    for directive, sources in csp.items():
        policy.custom_directive(directive, sources)
    features = secure.PermissionsPolicy()
    for feature, allowed in app.config["PERMISSIONS_POLICY"].items():
        features.add_directive(feature, *allowed)
    headers: dict[str, Any] = {
        "csp": policy,
        "xfo": secure.XFrameOptions().deny(),
        "xcto": secure.XContentTypeOptions(),
        "referrer": secure.ReferrerPolicy().strict_origin_when_cross_origin(),
        "permissions": features,
        "coop": secure.CrossOriginOpenerPolicy().same_origin(),
        "corp": secure.CrossOriginResourcePolicy().same_origin(),
    }
    hsts = secure.StrictTransportSecurity().max_age(app.config["HSTS_MAX_AGE"])
    if app.config["HSTS_INCLUDE_SUBDOMAINS"]:
        hsts = hsts.include_subdomains()
    if app.config["HSTS_PRELOAD"]:
        hsts = hsts.preload()
    return {
        False: secure.Secure(**headers).headers,
        True: secure.Secure(**headers, hsts=hsts).headers,
    }


def private() -> bool:
    """Whether the answer is for one account: a logged-in session, or credentials sent."""
    if request.authorization is not None:
        return True
    # Only when a session cookie came: reading the session adds `Vary: Cookie` to the answer.
    cookie = current_app.config["SESSION_COOKIE_NAME"]
    return cookie in request.cookies and "_user_id" in session

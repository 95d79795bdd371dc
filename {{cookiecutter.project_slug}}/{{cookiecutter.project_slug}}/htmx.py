"""What the server does for htmx (static/vendor/htmx.min.js), so pages update in place.

Forms made with templates/components/forms.html are boosted: htmx posts them and, when the
answer is the same page with the form's errors, swaps it in without a reload. A redirect (the
form was accepted) would be followed inside htmx's request, so it becomes an HX-Redirect
answer instead: the browser then loads the next page as usual, with its own scripts.
`page_or_part` answers htmx's own requests (the admin search, page links) with the part of
the page they swap. Without JavaScript none of this happens and every page works the same.
"""

from flask import Flask, Response, make_response, render_template, request


def init_app(app: Flask) -> None:
    app.after_request(redirect_boosted)


def redirect_boosted(response: Response) -> Response:
    if "HX-Boosted" in request.headers and response.status_code in (301, 302, 303, 307, 308):
        response.headers["HX-Redirect"] = response.headers.pop("Location")
        response.status_code = 200  # a redirect would be followed before htmx sees it
        response.set_data(b"")
    return response


def page_or_part(whole: str, part: str, **context: object) -> Response:
    """The template `whole`, or only `part` for htmx's own requests, which swap that part.

    A boosted request, and a visit from the browser's history (htmx then asks with
    HX-History-Restore-Request), get the whole page.
    """
    headers = request.headers
    swap = "HX-Request" in headers and not (
        "HX-Boosted" in headers or "HX-History-Restore-Request" in headers
    )
    response = make_response(render_template(part if swap else whole, **context))
    response.vary.add("HX-Request")  # caches keep the page and the part apart
    return response
